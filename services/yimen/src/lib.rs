//! yimen
