//! Bounded records (issue 14): caps on what one trigger instance or
//! execution stores, list endpoints that answer summaries in pages bounded
//! by bytes, read newest first from the store's reverse order, and list
//! parameters that are checked, not ignored.

mod big;
mod caps;
mod lists;
