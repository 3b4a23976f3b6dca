-- mediation: placeholder, replaced by the service's schema
CREATE TABLE mediation_placeholder (id TEXT PRIMARY KEY);
