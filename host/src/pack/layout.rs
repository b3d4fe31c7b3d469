//! The section layout of a bundle, walked before anything else reads it:
//! every section's length must fit in the bytes that follow (wasmsign2
//! would allocate whatever a length claims and call the short read an I/O
//! error), and Squall's own sections are capped, so that a signed bundle
//! cannot carry a 200 MiB "manifest" into the parsers.

use std::ops::Range;

use super::bundle::{ALIASES_SECTION, MANIFEST_SECTION, RULES_SECTION, WORKFLOWS_SECTION};

/// Largest `squall:manifest` section: one `pack.toml`.
pub const MAX_MANIFEST_SECTION_BYTES: usize = crate::limits::MAX_DOCUMENT_BYTES;
/// Largest `squall:rules`, `squall:workflows` or `squall:aliases` section:
/// all of a pack's rule (or workflow, or alias) files, each within the one-document limit.
pub const MAX_FILES_SECTION_BYTES: usize = 4 << 20;
/// Largest `signature` section: hashes and signatures, a few hundred bytes
/// per signer.
pub const MAX_SIGNATURE_SECTION_BYTES: usize = 64 << 10;

/// One top-level section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    /// The section id (0: custom).
    pub(crate) id: u8,
    /// A custom section's name.
    pub(crate) name: Option<String>,
    /// Where the section starts (its id byte) and ends.
    pub(crate) bytes: Range<usize>,
    /// Its content, after the id and the length.
    pub(crate) payload: Range<usize>,
}

/// Why the layout is unusable. Offsets count from the start of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A length that runs past the end of the bytes.
    #[error(
        "section {index} (id {id}) at byte offset {offset} claims {claimed} bytes, but only {remaining} follow: the length is impossible (a truncated or corrupt bundle)"
    )]
    ImpossibleLength {
        /// Its position among the sections, from 0.
        index: usize,
        /// Its id.
        id: u8,
        /// Where it starts.
        offset: usize,
        /// The length it claims.
        claimed: u64,
        /// The bytes after its length.
        remaining: usize,
    },
    /// A length that is not a LEB128 number of at most 32 bits.
    #[error("section {index} at byte offset {offset}: {what} is not a valid LEB128 number")]
    BadLength {
        /// Its position among the sections, from 0.
        index: usize,
        /// Where it starts.
        offset: usize,
        /// Which length.
        what: &'static str,
    },
    /// One of Squall's sections (or the signature) over its cap.
    #[error("section `{name}` is {size} bytes, over its limit of {limit} bytes")]
    TooLarge {
        /// The section's name.
        name: String,
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
}

/// The cap on a custom section named `name`; `None` for sections Squall
/// does not read (the bundle limit bounds those).
fn cap(name: &str) -> Option<usize> {
    match name {
        MANIFEST_SECTION => Some(MAX_MANIFEST_SECTION_BYTES),
        RULES_SECTION | WORKFLOWS_SECTION | ALIASES_SECTION => Some(MAX_FILES_SECTION_BYTES),
        "signature" => Some(MAX_SIGNATURE_SECTION_BYTES),
        _ => None,
    }
}

/// A LEB128 `u32` at `bytes[*at..]`, advancing `at`; `Err` for one longer
/// than five bytes, over 32 bits, or cut off. A claimed length may still
/// be larger than what follows; the caller checks that.
fn leb128(bytes: &[u8], at: &mut usize) -> Result<u64, ()> {
    let mut value = 0u64;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at).ok_or(())?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return if value <= u64::from(u32::MAX) { Ok(value) } else { Err(()) };
        }
    }
    Err(())
}

/// Walks the sections after the 8-byte header (checked by the caller),
/// each of Squall's within its cap.
pub(crate) fn sections(bytes: &[u8]) -> Result<Vec<Span>, LayoutError> {
    walk(bytes, true)
}

/// [`sections`] without the caps, for the signer: it signs bytes as they
/// are; what installs is the installer's policy.
pub(crate) fn sections_uncapped(bytes: &[u8]) -> Result<Vec<Span>, LayoutError> {
    walk(bytes, false)
}

fn walk(bytes: &[u8], capped: bool) -> Result<Vec<Span>, LayoutError> {
    let mut spans = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let (index, offset, id) = (spans.len(), at, bytes[at]);
        at += 1;
        let bad = |what| LayoutError::BadLength { index, offset, what };
        let claimed = leb128(bytes, &mut at).map_err(|()| bad("the section's length"))?;
        let remaining = bytes.len() - at;
        let size = usize::try_from(claimed)
            .ok()
            .filter(|size| *size <= remaining)
            .ok_or(LayoutError::ImpossibleLength { index, id, offset, claimed, remaining })?;
        let payload = at..at + size;
        let name = if id == 0 {
            let mut name_at = payload.start;
            let length = leb128(&bytes[..payload.end], &mut name_at)
                .map_err(|()| bad("the custom section's name length"))?;
            let name_end = usize::try_from(length)
                .ok()
                .and_then(|length| name_at.checked_add(length))
                .filter(|end| *end <= payload.end)
                .ok_or(bad("the custom section's name length"))?;
            let name = String::from_utf8_lossy(&bytes[name_at..name_end]).into_owned();
            if let Some(limit) = cap(&name).filter(|limit| capped && size > *limit) {
                return Err(LayoutError::TooLarge { name, size, limit });
            }
            Some(name)
        } else {
            None
        };
        spans.push(Span { id, name, bytes: offset..payload.end, payload: payload.clone() });
        at = payload.end;
    }
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    fn custom(name: &str, size: usize) -> Vec<u8> {
        let mut payload = vec![u8::try_from(name.len()).expect("short name")];
        payload.extend_from_slice(name.as_bytes());
        payload.resize(payload.len() + size, b'x');
        let mut section = vec![0];
        let mut length = payload.len();
        loop {
            let byte = u8::try_from(length & 0x7f).expect("7 bits");
            length >>= 7;
            section.push(if length == 0 { byte } else { byte | 0x80 });
            if length == 0 {
                break;
            }
        }
        section.extend(payload);
        section
    }

    #[test]
    fn sections_are_walked_and_capped() {
        let mut bytes = HEADER.to_vec();
        bytes.extend(custom("squall:manifest", 10));
        bytes.extend(custom("name", 3));
        let spans = sections(&bytes).expect("fine");
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].name.as_deref(), Some("squall:manifest"));
        assert_eq!(spans[1].bytes.end, bytes.len());

        let mut big = HEADER.to_vec();
        big.extend(custom("squall:rules", MAX_FILES_SECTION_BYTES));
        let e = sections(&big).expect_err("over the cap");
        assert_eq!(
            e.to_string(),
            format!(
                "section `squall:rules` is {} bytes, over its limit of 4194304 bytes",
                MAX_FILES_SECTION_BYTES + 13
            )
        );
    }

    #[test]
    fn impossible_lengths_are_named() {
        let mut bytes = HEADER.to_vec();
        bytes.extend(custom("a", 1));
        bytes.extend([0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        let e = sections(&bytes).expect_err("4 GiB");
        assert_eq!(
            e.to_string(),
            "section 1 (id 1) at byte offset 13 claims 4294967295 bytes, but only 1 follow: the length is impossible (a truncated or corrupt bundle)"
        );
        let mut bytes = HEADER.to_vec();
        bytes.extend([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        let e = sections(&bytes).expect_err("too long a number");
        assert_eq!(
            e.to_string(),
            "section 0 at byte offset 8: the section's length is not a valid LEB128 number"
        );
        let mut bytes = HEADER.to_vec();
        bytes.extend([0x00, 0x02, 0x09, b'a']);
        let e = sections(&bytes).expect_err("name past the section");
        assert!(e.to_string().contains("the custom section's name length"), "{e}");
    }
}
