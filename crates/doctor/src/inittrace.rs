//! inittrace
