//! proxy (placeholder)
