//! doctor (placeholder)
