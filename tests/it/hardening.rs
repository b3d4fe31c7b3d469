//! Hardening under hostile load (issue 14): a real `squall serve` on
//! 127.0.0.1 attacked the way a reviewer did — slow clients, too many
//! connections, an unwritable log.

mod connections;
mod log_sink;
