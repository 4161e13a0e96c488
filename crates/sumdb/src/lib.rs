//! sumdb (placeholder)
