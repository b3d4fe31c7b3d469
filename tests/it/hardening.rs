//! Hardening under hostile load (issue 14): a real `squall serve` on
//! 127.0.0.1 attacked the way a reviewer did — slow clients, too many
//! connections, an unwritable log, a full disk.

mod connections;
mod disk_full;
mod log_sink;
