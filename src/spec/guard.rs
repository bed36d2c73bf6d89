//! Inputs the KDL parser cannot take in reasonable time, refused before it sees them.
//!
//! kdl-rs 6.7 backtracks exponentially on nested slashdashed children blocks (`a /-{ b /-{ …`):
//! each level about doubles the time (twelve levels: ~2 s; a 255-byte input found by the
//! fuzzer ran over 15 s, and longer ones for hours). Commenting out a block inside a
//! commented-out block means nothing more than commenting out the outer one, and a spec rarely
//! comments out children blocks at all, so a file may hold at most
//! [`MAX_SLASHDASHED_BLOCKS`] of them. They are counted in the raw text — strings and comments
//! included — so that no quoting the parser reads differently can hide one.

use miette::SourceSpan;

/// Most slashdashed children blocks (`/-{`) one file may hold.
pub const MAX_SLASHDASHED_BLOCKS: usize = 8;

/// The place of the slashdashed children block past [`MAX_SLASHDASHED_BLOCKS`] in `text`, if
/// any: a `/-` followed, after any whitespace or line continuations, by `{`.
pub fn too_many_slashdashed_blocks(text: &str) -> Option<SourceSpan> {
    let b = text.as_bytes();
    let mut count = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'/' && b[i + 1] == b'-' {
            let mut j = i + 2;
            while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'\\') {
                j += 1;
            }
            if b.get(j) == Some(&b'{') {
                count += 1;
                if count > MAX_SLASHDASHED_BLOCKS {
                    return Some(SourceSpan::from(i..j + 1));
                }
            }
            i = j;
            continue;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashdashed_blocks_past_the_limit_are_found() {
        let many = "a /-{\n".repeat(MAX_SLASHDASHED_BLOCKS + 1);
        let at = "a /-{\n".len() * MAX_SLASHDASHED_BLOCKS + 2;
        assert_eq!(
            too_many_slashdashed_blocks(&many).map(|s| (s.offset(), s.len())),
            Some((at, 3))
        );
        assert!(too_many_slashdashed_blocks(&"a /-{ }\n".repeat(MAX_SLASHDASHED_BLOCKS)).is_none());
        // Whitespace and a line continuation between `/-` and `{` do not hide one.
        assert!(too_many_slashdashed_blocks(&"a /- \\\n {\n".repeat(9)).is_some());
        // Slashdashed nodes and properties, and plain blocks, are not blocks.
        for ok in [
            "/-a { }\n".repeat(40),
            "a /-b=1 { }\n".repeat(40),
            "a {\n".repeat(40),
        ] {
            assert!(too_many_slashdashed_blocks(&ok).is_none(), "{ok:?}");
        }
    }
}
