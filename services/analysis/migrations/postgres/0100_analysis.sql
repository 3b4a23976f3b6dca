-- analysis: placeholder, replaced by the service's schema
CREATE TABLE analysis_placeholder (id TEXT PRIMARY KEY);
