//! Talking to a server: the transport (the driver's port, or the in-process sim) and typed requests.

use std::cell::Cell;
use std::fmt;

use anyhow::{Context, Result, bail};
use pushlock_protocol::{
    Command, HEADER_SIZE, HelloReply, ListReply, ListRequest, LockInfo, LocksReply, MessageWriter,
    PolicyRequest, RunReply, RunRequest, ScenarioInfo, StatsReply, ThreadReport, U32, parse_reply,
    status,
};
use pushlock_selftest::{Server, StdHost};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Room for the largest reply (a run of 64 threads) and then some.
pub const REPLY_CAPACITY: usize = 16 * 1024;

/// Carries one message to a server and its reply back.
pub trait Transport {
    /// Sends `input`; the reply goes to `output`. Returns the reply's length.
    ///
    /// # Errors
    /// [`Refused`] if the server answered with an error status; anything else if the message
    /// could not be delivered.
    fn transact(&self, input: &[u8], output: &mut [u8]) -> Result<usize>;

    /// Where messages go, for the user.
    fn describe(&self) -> String;
}

/// The server refused a message: its NTSTATUS (from the sim), or the HRESULT that the port
/// turned it into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(windows),
    allow(dead_code, reason = "only the Windows port returns HRESULTs")
)]
pub enum Refused {
    /// An NTSTATUS, as the server returned it.
    Status(i32),
    /// An HRESULT from `FilterSendMessage`.
    HResult(i32),
}

#[cfg_attr(not(windows), allow(dead_code, reason = "only the Windows port asks"))]
impl Refused {
    /// The NTSTATUS behind the refusal, if it can be recovered.
    pub fn status(self) -> Option<i32> {
        match self {
            Self::Status(status) => Some(status),
            Self::HResult(hresult) => crate::status::nt_status_of(hresult),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Status(code) => f.write_str(&crate::status::describe_nt(code)),
            Self::HResult(code) => f.write_str(&crate::status::describe_hresult(code)),
        }
    }
}

impl std::error::Error for Refused {}

/// The in-process server: the same `Server` the driver runs, on std threads.
pub struct Sim(Server<StdHost>);

impl Sim {
    pub const fn new() -> Self {
        Self(Server::new(StdHost))
    }
}

impl Transport for Sim {
    fn transact(&self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        match self.0.message(input, output) {
            (status::SUCCESS, len) => Ok(len),
            (code, _) => Err(Refused::Status(code).into()),
        }
    }

    fn describe(&self) -> String {
        String::from("sim (in-process, StdPlatform)")
    }
}

/// Typed requests over a transport.
pub struct Client {
    transport: Box<dyn Transport>,
    next_id: Cell<u64>,
}

impl Client {
    pub fn new(transport: Box<dyn Transport>) -> Self {
        Self {
            transport,
            next_id: Cell::new(1),
        }
    }

    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    /// Sends a request and returns the reply's payload, checked to answer this request.
    fn call<T: IntoBytes + Immutable + ?Sized>(
        &self,
        command: Command,
        payload: &T,
    ) -> Result<Vec<u8>> {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let input = encode(command, id, payload.as_bytes());
        let mut output = vec![0; REPLY_CAPACITY];
        let len = self.transport.transact(&input, &mut output)?;
        let reply = output
            .get(..len)
            .context("the reply length exceeds the buffer")?;
        let payload = parse_reply(reply, command, id)
            .map_err(|error| anyhow::anyhow!("malformed reply to {command:?}: {error:?}"))?;
        Ok(payload.to_vec())
    }

    pub fn hello(&self) -> Result<HelloReply> {
        let payload = self.call(Command::Hello, &[0_u8; 0])?;
        HelloReply::read_from_bytes(&payload).map_err(|_| anyhow::anyhow!("short Hello reply"))
    }

    /// The whole catalogue, page by page.
    pub fn list(&self) -> Result<Vec<ScenarioInfo>> {
        let mut entries = Vec::new();
        loop {
            let first = u32::try_from(entries.len())?;
            let page = ListRequest {
                first: U32::new(first),
                ..ListRequest::default()
            };
            let payload = self.call(Command::ListScenarios, &page)?;
            let (head, rest) = ListReply::read_from_prefix(&payload)
                .map_err(|_| anyhow::anyhow!("short List reply"))?;
            let page = <[ScenarioInfo]>::ref_from_bytes(rest)
                .map_err(|_| anyhow::anyhow!("ragged List reply"))?;
            if page.is_empty() {
                return Ok(entries);
            }
            entries.extend_from_slice(page);
            if entries.len() >= usize::try_from(head.total.get())? {
                return Ok(entries);
            }
        }
    }

    pub fn run(&self, request: &RunRequest) -> Result<(RunReply, Vec<ThreadReport>)> {
        let payload = self.call(Command::RunScenario, request)?;
        let (head, rest) =
            RunReply::read_from_prefix(&payload).map_err(|_| anyhow::anyhow!("short Run reply"))?;
        let threads = <[ThreadReport]>::ref_from_bytes(rest)
            .map_err(|_| anyhow::anyhow!("ragged Run reply"))?;
        if threads.len() != usize::from(head.threads.get()) {
            bail!(
                "the Run reply announces {} threads and carries {}",
                head.threads.get(),
                threads.len()
            );
        }
        Ok((head, threads.to_vec()))
    }

    /// Replaces the filter's policy set with `pids`.
    pub fn set_policy(&self, pids: &[u32]) -> Result<()> {
        let mut request = PolicyRequest {
            count: U32::new(u32::try_from(pids.len())?),
            ..PolicyRequest::default()
        };
        for (slot, pid) in request.pids.iter_mut().zip(pids) {
            *slot = U32::new(*pid);
        }
        let payload = self.call(Command::SetPolicy, &request)?;
        if !payload.is_empty() {
            bail!("unexpected payload in the SetPolicy reply");
        }
        Ok(())
    }

    pub fn stats(&self) -> Result<StatsReply> {
        let payload = self.call(Command::Stats, &[0_u8; 0])?;
        StatsReply::read_from_bytes(&payload).map_err(|_| anyhow::anyhow!("short Stats reply"))
    }

    /// The server's named locks and their statistics.
    pub fn locks(&self) -> Result<Vec<LockInfo>> {
        let payload = self
            .call(Command::Locks, &[0_u8; 0])
            .context("Locks (a driver older than this harness does not answer it)")?;
        let (head, rest) = LocksReply::read_from_prefix(&payload)
            .map_err(|_| anyhow::anyhow!("short Locks reply"))?;
        let entries = <[LockInfo]>::ref_from_bytes(rest)
            .map_err(|_| anyhow::anyhow!("ragged Locks reply"))?;
        if entries.len() != usize::try_from(head.count.get())? {
            bail!(
                "the Locks reply announces {} locks and carries {}",
                head.count.get(),
                entries.len()
            );
        }
        Ok(entries.to_vec())
    }

    /// Sends `input` as it is; returns the outcome and the reply bytes.
    pub fn raw(&self, input: &[u8], capacity: usize) -> (Result<usize>, Vec<u8>) {
        let mut output = vec![0; capacity];
        let result = self.transport.transact(input, &mut output);
        let len = result.as_ref().map_or(0, |len| *len);
        output.truncate(len);
        (result, output)
    }
}

/// A whole message: header and payload.
pub fn encode(command: Command, id: u64, payload: &[u8]) -> Vec<u8> {
    let mut message = vec![0; HEADER_SIZE + payload.len()];
    if let Some(mut writer) = MessageWriter::new(&mut message, command as u16, id, payload.len()) {
        writer.put(payload);
        let _ = writer.finish();
    }
    message
}
