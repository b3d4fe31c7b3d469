//! The store: group commit, durability across reopen, retention.
