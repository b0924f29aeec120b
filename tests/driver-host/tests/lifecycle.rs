//! The driver's glue, executed: load, connect, messages, creates, disconnect and unload, as
//! Filter Manager and the harness do them, with the user-mode kernel's books checked.
#![allow(
    clippy::significant_drop_tightening,
    reason = "a session holds the kernel for the whole test"
)]

mod common;

use common::{Driver, STATUS_SUCCESS, hello, request};
use pushlock_kernel::{Session, UNLOAD_MANDATORY};
use pushlock_protocol::Command;

#[test]
fn load_hello_unload_leaves_nothing_behind() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    let reply = driver.send(client, &request(Command::Hello, &()));
    assert_eq!(reply.status, STATUS_SUCCESS);
    assert_eq!(hello(&reply).platform.get(), 2, "the kernel platform");
    session.disconnect(client);
    driver.unload(UNLOAD_MANDATORY);
}
