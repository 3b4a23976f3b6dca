-- assessment: placeholder, replaced by the service's schema
CREATE TABLE assessment_placeholder (id TEXT PRIMARY KEY);
