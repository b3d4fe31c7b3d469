//! The rule for names that people read in logs, terminals, audit records
//! and URLs (datastore keys): printable characters only, so that a name
//! cannot forge a log line or read differently from what it is.

/// The rule, as refusals state it.
pub const NAME_RULE: &str = "printable characters: no control characters (U+0000-U+001F, U+007F-U+009F), no whitespace but the plain space (no tab, newline, U+2028, U+2029 or other separators), no bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069)";

/// Bidirectional controls, which make text display in another order than
/// it is stored (U+202E turns `txt.exe` into `exe.txt` on screen).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// What `c` is, when a name may not hold it.
fn refused(c: char) -> Option<&'static str> {
    if c.is_control() {
        Some("a control character")
    } else if c.is_whitespace() && c != ' ' {
        Some("a separator")
    } else if is_bidi_control(c) {
        Some("a bidirectional control")
    } else {
        None
    }
}

/// Checks `name` against [`NAME_RULE`]; the refusal names the first
/// character that breaks it and where it is.
pub fn check_name_text(name: &str) -> Result<(), String> {
    match name.char_indices().find_map(|(at, c)| refused(c).map(|what| (at, c, what))) {
        None => Ok(()),
        Some((at, c, what)) => Err(format!(
            "U+{:04X} at byte {at} is {what}; names are limited to {NAME_RULE}",
            u32::from(c)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_names_pass_and_the_refusal_names_the_character() {
        for name in ["keep_days", "a b", "pack.setting/x:y", "ключ", "名前", "emoji 🚀"] {
            assert_eq!(check_name_text(name), Ok(()), "{name}");
        }
        for (name, found) in [
            ("a\nb", "U+000A at byte 1 is a control character"),
            ("a\0", "U+0000 at byte 1 is a control character"),
            ("\u{7f}", "U+007F at byte 0 is a control character"),
            ("x\u{202e}txt", "U+202E at byte 1 is a bidirectional control"),
            ("x\u{2066}", "U+2066 at byte 1 is a bidirectional control"),
            ("a\u{2028}b", "U+2028 at byte 1 is a separator"),
            ("a\u{a0}b", "U+00A0 at byte 1 is a separator"),
        ] {
            let message = check_name_text(name).expect_err(name);
            assert!(message.starts_with(found), "{message}");
            assert!(message.contains("names are limited to printable characters"), "{message}");
        }
    }
}
