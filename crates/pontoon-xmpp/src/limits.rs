//! Bounds applied to every incoming XML stream.
//!
//! A peer must not be able to make Pontoon buffer unbounded data or recurse
//! without end, so every [`StreamReader`](crate::reader::StreamReader) is
//! created with a [`Limits`] value and checks it while bytes are fed to the
//! parser.

/// Limits enforced on an incoming XML stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of bytes of one top-level element (stanza), counted on
    /// the wire from its opening `<` to its closing `>`. The stream header
    /// (XML declaration and `<stream:stream ...>` tag) is bounded by the same
    /// number. Default: 256 KiB.
    pub max_stanza_bytes: usize,
    /// Maximum element nesting depth below the stream root: a stanza is at
    /// depth 1, its children at depth 2, and so on. Default: 32.
    pub max_depth: usize,
}

impl Limits {
    /// Default for [`Limits::max_stanza_bytes`]: 256 KiB.
    pub const DEFAULT_MAX_STANZA_BYTES: usize = 256 * 1024;
    /// Default for [`Limits::max_depth`]: 32.
    pub const DEFAULT_MAX_DEPTH: usize = 32;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_stanza_bytes: Self::DEFAULT_MAX_STANZA_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }
}
