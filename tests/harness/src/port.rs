//! The driver's Filter Manager communication port (Windows only).

use std::ptr;

use anyhow::{Result, bail};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::Storage::InstallableFileSystems::{
    FilterConnectCommunicationPort, FilterSendMessage,
};

use crate::client::{Refused, Transport};

/// A connection to the driver's port.
pub struct Port {
    handle: HANDLE,
    name: String,
}

// SAFETY: a port handle may be used from any thread; `FilterSendMessage` is synchronous.
unsafe impl Send for Port {}

impl Port {
    /// Connects to `name` (e.g. `\PushLockPort`).
    ///
    /// # Errors
    /// Explains the usual causes: not elevated, driver not loaded, another client connected.
    pub fn connect(name: &str) -> Result<Self> {
        let wide: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
        let mut handle: HANDLE = ptr::null_mut();
        // SAFETY: `wide` is a NUL-terminated UTF-16 string that outlives the call; no context,
        // no security attributes; `handle` is a valid out-pointer.
        let hresult = unsafe {
            FilterConnectCommunicationPort(
                wide.as_ptr(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                &raw mut handle,
            )
        };
        if hresult < 0 {
            let refused = Refused::HResult(hresult);
            let hint = match refused.status() {
                Some(pushlock_protocol::status::ACCESS_DENIED) => {
                    "access denied: the port admits only Administrators and SYSTEM; run elevated"
                }
                Some(pushlock_protocol::status::OBJECT_NAME_NOT_FOUND) => {
                    "no such port: is the driver loaded? (fltmc load pushlock_filter)"
                }
                Some(pushlock_protocol::status::CONNECTION_COUNT_LIMIT) => {
                    "another harness is connected; the port takes one client"
                }
                _ => "could not connect",
            };
            bail!("{hint} [{name}: {refused}]");
        }
        Ok(Self {
            handle,
            name: name.to_owned(),
        })
    }
}

impl Transport for Port {
    fn transact(&self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        let mut returned = 0_u32;
        // SAFETY: both buffers are valid for their stated lengths for the whole (synchronous)
        // call; `returned` is a valid out-pointer.
        let hresult = unsafe {
            FilterSendMessage(
                self.handle,
                input.as_ptr().cast(),
                u32::try_from(input.len())?,
                output.as_mut_ptr().cast(),
                u32::try_from(output.len())?,
                &raw mut returned,
            )
        };
        if hresult < 0 {
            return Err(Refused::HResult(hresult).into());
        }
        Ok(usize::try_from(returned)?)
    }

    fn describe(&self) -> String {
        format!("port {} (driver)", self.name)
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the handle came from FilterConnectCommunicationPort and is closed once.
        unsafe { CloseHandle(self.handle) };
    }
}
