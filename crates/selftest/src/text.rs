//! Text that needs no allocation: a failure's description and dump, cut at 256 bytes (what a
//! `RunReply`'s `detail` holds anyway), written with the `text!` macro as `format!` would.

use core::fmt;

/// Bytes a [`Text`] holds: the size of `RunReply::detail`.
const CAPACITY: usize = 256;

/// UTF-8 text of at most 256 bytes; writing past the end is cut at a character boundary.
#[derive(Clone)]
pub struct Text {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl Text {
    /// Empty text.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            bytes: [0; CAPACITY],
            len: 0,
        }
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only whole characters are ever written.
        core::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl Default for Text {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = CAPACITY.saturating_sub(self.len);
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take = take.saturating_sub(1);
        }
        let end = self.len.saturating_add(take);
        if let (Some(slot), Some(part)) = (self.bytes.get_mut(self.len..end), s.get(..take)) {
            slot.copy_from_slice(part.as_bytes());
            self.len = end;
        }
        Ok(())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// `format!` into a [`Text`]: no allocation, cut at 256 bytes.
macro_rules! text {
    ($($argument:tt)*) => {{
        let mut text = $crate::text::Text::new();
        // Writing to a `Text` never fails; past its capacity it cuts.
        let _ = core::fmt::Write::write_fmt(&mut text, format_args!($($argument)*));
        text
    }};
}
pub(crate) use text;
