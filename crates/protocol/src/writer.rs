//! Writing a message (a request, or a reply) into a caller's buffer, sized before anything is done.

use zerocopy::{Immutable, IntoBytes};

use crate::{HEADER_SIZE, Header, MAGIC, U16, U32, U64, VERSION};

/// Writes one message: a header, then payload parts, into a buffer known to be large enough.
pub struct MessageWriter<'a> {
    out: &'a mut [u8],
    len: usize,
    total: usize,
}

impl<'a> MessageWriter<'a> {
    /// Starts a message of `command` with `payload_len` bytes of payload, or `None` if `out`
    /// cannot hold it (the caller answers `STATUS_BUFFER_TOO_SMALL` and does nothing).
    #[must_use]
    pub fn new(
        out: &'a mut [u8],
        command: u16,
        request_id: u64,
        payload_len: usize,
    ) -> Option<Self> {
        let total = HEADER_SIZE.checked_add(payload_len)?;
        if out.len() < total {
            return None;
        }
        let header = Header {
            magic: U32::new(MAGIC),
            version: U16::new(VERSION),
            command: U16::new(command),
            length: U32::new(u32::try_from(total).ok()?),
            flags: U32::new(0),
            request_id: U64::new(request_id),
        };
        let mut writer = Self { out, len: 0, total };
        writer.put(&header);
        Some(writer)
    }

    /// Appends `value` (ignored past the size given to [`new`](Self::new), which
    /// [`finish`](Self::finish) then reports).
    pub fn put<T: IntoBytes + Immutable + ?Sized>(&mut self, value: &T) {
        let bytes = value.as_bytes();
        let Some(end) = self
            .len
            .checked_add(bytes.len())
            .filter(|end| *end <= self.total)
        else {
            self.total = 0; // poison: finish() will refuse
            return;
        };
        if let Some(slot) = self.out.get_mut(self.len..end) {
            slot.copy_from_slice(bytes);
            self.len = end;
        }
    }

    /// The message length, if exactly the announced payload was written.
    #[must_use]
    pub fn finish(self) -> Option<usize> {
        (self.len == self.total && self.total != 0).then_some(self.len)
    }
}
