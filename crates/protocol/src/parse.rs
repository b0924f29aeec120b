//! Validating incoming bytes: nothing is trusted, nothing is assumed aligned.

use zerocopy::FromBytes;

use crate::{
    Command, Header, ListRequest, MAGIC, PolicyRequest, REPLY, RunRequest, VERSION, status,
};

/// A well-formed request.
#[derive(Clone, Copy, Debug)]
pub enum Request<'a> {
    /// `Hello`.
    Hello,
    /// `ListScenarios`.
    List(&'a ListRequest),
    /// `RunScenario`.
    Run(&'a RunRequest),
    /// `Stats`.
    Stats,
    /// `SetPolicy`: the process ids in use (validated: at most 64, unused entries zero).
    SetPolicy(&'a PolicyRequest),
    /// `Locks`.
    Locks,
}

/// Why bytes are not a well-formed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Fewer bytes than a header.
    Truncated,
    /// The magic is not [`MAGIC`].
    BadMagic,
    /// The header's `length` is not the number of bytes received.
    LengthMismatch,
    /// The payload is not the command's exact size.
    PayloadSize,
    /// A reserved field is not zero.
    ReservedSet,
    /// The version is not [`VERSION`] (and the command is not `Hello`).
    Version,
    /// The command is not one this version knows.
    UnknownCommand,
    /// A count beyond what the payload can hold.
    OutOfRange,
    /// A reply that does not answer the request it was read for.
    NotTheReply,
}

impl ProtocolError {
    /// The NTSTATUS a server answers with.
    #[must_use]
    pub const fn status(self) -> i32 {
        match self {
            Self::Truncated | Self::LengthMismatch | Self::PayloadSize => {
                status::INFO_LENGTH_MISMATCH
            }
            Self::BadMagic | Self::ReservedSet | Self::OutOfRange | Self::NotTheReply => {
                status::INVALID_PARAMETER
            }
            Self::Version => status::REVISION_MISMATCH,
            Self::UnknownCommand => status::INVALID_DEVICE_REQUEST,
        }
    }
}

/// Parses a request; on any error nothing about it may be acted on.
///
/// # Errors
/// The first check that fails, in this order: size, magic, length, reserved flags, version
/// (except for `Hello`), command, payload size, payload reserved fields.
pub fn parse_request(input: &[u8]) -> Result<(&Header, Request<'_>), ProtocolError> {
    let (header, payload) = parse_header(input)?;
    let code = header.command.get();
    if code != Command::Hello as u16 && header.version.get() != VERSION {
        return Err(ProtocolError::Version);
    }
    let request = match Command::from_code(code).ok_or(ProtocolError::UnknownCommand)? {
        Command::Hello => empty(payload).map(|()| Request::Hello)?,
        Command::Stats => empty(payload).map(|()| Request::Stats)?,
        Command::Locks => empty(payload).map(|()| Request::Locks)?,
        Command::ListScenarios => {
            let list =
                ListRequest::ref_from_bytes(payload).map_err(|_| ProtocolError::PayloadSize)?;
            reserved_zero(list.reserved.get())?;
            Request::List(list)
        }
        Command::RunScenario => {
            let run =
                RunRequest::ref_from_bytes(payload).map_err(|_| ProtocolError::PayloadSize)?;
            reserved_zero(u32::from(run.reserved.get()) | run.flags.get())?;
            Request::Run(run)
        }
        Command::SetPolicy => {
            let policy =
                PolicyRequest::ref_from_bytes(payload).map_err(|_| ProtocolError::PayloadSize)?;
            reserved_zero(policy.reserved.get())?;
            let used =
                usize::try_from(policy.count.get()).map_err(|_| ProtocolError::OutOfRange)?;
            let unused = policy.pids.get(used..).ok_or(ProtocolError::OutOfRange)?;
            if unused.iter().any(|pid| pid.get() != 0) {
                return Err(ProtocolError::ReservedSet);
            }
            Request::SetPolicy(policy)
        }
    };
    Ok((header, request))
}

/// Parses the reply to a request with `command` and `request_id`; returns its payload.
///
/// # Errors
/// As for [`parse_request`], and [`ProtocolError::NotTheReply`] if it answers something else.
pub fn parse_reply(
    input: &[u8],
    command: Command,
    request_id: u64,
) -> Result<&[u8], ProtocolError> {
    let (header, payload) = parse_header(input)?;
    if header.command.get() != command as u16 | REPLY || header.request_id.get() != request_id {
        return Err(ProtocolError::NotTheReply);
    }
    Ok(payload)
}

fn parse_header(input: &[u8]) -> Result<(&Header, &[u8]), ProtocolError> {
    let (header, payload) = Header::ref_from_prefix(input).map_err(|_| ProtocolError::Truncated)?;
    if header.magic.get() != MAGIC {
        return Err(ProtocolError::BadMagic);
    }
    if usize::try_from(header.length.get()) != Ok(input.len()) {
        return Err(ProtocolError::LengthMismatch);
    }
    reserved_zero(header.flags.get())?;
    Ok((header, payload))
}

const fn empty(payload: &[u8]) -> Result<(), ProtocolError> {
    if payload.is_empty() {
        Ok(())
    } else {
        Err(ProtocolError::PayloadSize)
    }
}

const fn reserved_zero(bits: u32) -> Result<(), ProtocolError> {
    if bits == 0 {
        Ok(())
    } else {
        Err(ProtocolError::ReservedSet)
    }
}
