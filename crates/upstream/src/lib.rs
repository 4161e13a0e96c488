//! upstream (placeholder)
