//! The wire format: sizes are what the docs say, parsing rejects every malformed shape with its
//! specific status, messages round-trip, and our NTSTATUS values are Microsoft's.

use pushlock_protocol::{
    Command, HEADER_SIZE, Header, ListReply, ListRequest, MAGIC, MessageWriter, ProtocolError,
    REPLY, Request, RunReply, RunRequest, ScenarioInfo, StatsReply, ThreadReport, U16, U32,
    VERSION, parse_reply, parse_request, status,
};
use zerocopy::IntoBytes;

fn message(command: u16, version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0; HEADER_SIZE + payload.len()];
    let mut writer = MessageWriter::new(&mut out, command, 7, payload.len()).unwrap();
    writer.put(payload);
    assert_eq!(writer.finish(), Some(out.len()));
    out[4..6].copy_from_slice(&version.to_le_bytes());
    out
}

fn run_request() -> RunRequest {
    RunRequest {
        scenario: U16::new(20),
        lock: U16::new(1),
        threads: U32::new(4),
        time_limit_ms: U32::new(1000),
        ..RunRequest::default()
    }
}

#[test]
fn layouts_are_fixed_and_unaligned() {
    assert_eq!(size_of::<Header>(), 24);
    assert_eq!(size_of::<RunRequest>(), 40);
    assert_eq!(size_of::<ListRequest>(), 8);
    assert_eq!(size_of::<ListReply>(), 8);
    assert_eq!(size_of::<ScenarioInfo>(), 128);
    assert_eq!(size_of::<RunReply>(), 344);
    assert_eq!(size_of::<ThreadReport>(), 32);
    assert_eq!(size_of::<StatsReply>(), 88);
    assert_eq!(size_of::<pushlock_protocol::PolicyRequest>(), 264);
    assert_eq!(size_of::<pushlock_protocol::LocksReply>(), 8);
    assert_eq!(size_of::<pushlock_protocol::LockInfo>(), 96);
    assert_eq!(align_of::<Header>(), 1);
    assert_eq!(align_of::<RunReply>(), 1);
}

#[test]
fn well_formed_requests_parse_at_any_alignment() {
    let bytes = message(
        Command::RunScenario as u16,
        VERSION,
        run_request().as_bytes(),
    );
    for offset in 0..8 {
        let mut shifted = vec![0xEE; offset];
        shifted.extend_from_slice(&bytes);
        let (header, request) = parse_request(&shifted[offset..]).unwrap();
        assert_eq!(header.request_id.get(), 7);
        let Request::Run(run) = request else {
            panic!("not a run: {request:?}")
        };
        assert_eq!((run.scenario.get(), run.threads.get()), (20, 4));
    }
    assert!(matches!(
        parse_request(&message(1, VERSION, &[])),
        Ok((_, Request::Hello))
    ));
    assert!(matches!(
        parse_request(&message(4, VERSION, &[])),
        Ok((_, Request::Stats))
    ));
    let list = message(2, VERSION, ListRequest::default().as_bytes());
    assert!(matches!(parse_request(&list), Ok((_, Request::List(_)))));
    assert!(matches!(
        parse_request(&message(6, VERSION, &[])),
        Ok((_, Request::Locks))
    ));
}

#[test]
fn every_malformed_shape_has_its_status() {
    let good = message(
        Command::RunScenario as u16,
        VERSION,
        run_request().as_bytes(),
    );
    let error = |bytes: &[u8]| parse_request(bytes).map(|_| ()).unwrap_err();

    assert_eq!(error(&good[..HEADER_SIZE - 1]), ProtocolError::Truncated);
    assert_eq!(error(&[]), ProtocolError::Truncated);

    let mut bad_magic = good.clone();
    bad_magic[0] ^= 0xFF;
    assert_eq!(error(&bad_magic), ProtocolError::BadMagic);

    assert_eq!(
        error(&good[..good.len() - 1]),
        ProtocolError::LengthMismatch,
        "cut short"
    );
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        error(&longer),
        ProtocolError::LengthMismatch,
        "trailing bytes"
    );
    let mut lying = good.clone();
    lying[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        error(&lying),
        ProtocolError::LengthMismatch,
        "length field lies"
    );

    let mut flagged = good;
    flagged[12] = 1;
    assert_eq!(error(&flagged), ProtocolError::ReservedSet);

    let future = message(
        Command::RunScenario as u16,
        VERSION + 1,
        run_request().as_bytes(),
    );
    assert_eq!(error(&future), ProtocolError::Version);
    assert!(
        parse_request(&message(1, VERSION + 1, &[])).is_ok(),
        "Hello at any version"
    );

    assert_eq!(
        error(&message(99, VERSION, &[])),
        ProtocolError::UnknownCommand
    );
    assert_eq!(
        error(&message(1 | REPLY, VERSION, &[])),
        ProtocolError::UnknownCommand
    );

    assert_eq!(
        error(&message(1, VERSION, &[0])),
        ProtocolError::PayloadSize
    );
    assert_eq!(
        error(&message(3, VERSION, &[0; 39])),
        ProtocolError::PayloadSize
    );
    assert_eq!(error(&message(2, VERSION, &[])), ProtocolError::PayloadSize);
    assert_eq!(
        error(&message(6, VERSION, &[0; 8])),
        ProtocolError::PayloadSize,
        "Locks takes no payload"
    );
    assert_eq!(error(&message(6, VERSION + 1, &[])), ProtocolError::Version);

    let mut reserved = run_request();
    reserved.flags = U32::new(1);
    assert_eq!(
        error(&message(3, VERSION, reserved.as_bytes())),
        ProtocolError::ReservedSet
    );
    let list = ListRequest {
        reserved: U32::new(2),
        ..ListRequest::default()
    };
    assert_eq!(
        error(&message(2, VERSION, list.as_bytes())),
        ProtocolError::ReservedSet
    );

    assert_eq!(
        ProtocolError::Truncated.status(),
        status::INFO_LENGTH_MISMATCH
    );
    assert_eq!(ProtocolError::BadMagic.status(), status::INVALID_PARAMETER);
    assert_eq!(ProtocolError::Version.status(), status::REVISION_MISMATCH);
    assert_eq!(
        ProtocolError::UnknownCommand.status(),
        status::INVALID_DEVICE_REQUEST
    );
}

#[test]
fn a_policy_must_count_its_ids_exactly() {
    use pushlock_protocol::PolicyRequest;
    let mut policy = PolicyRequest {
        count: U32::new(2),
        ..PolicyRequest::default()
    };
    policy.pids[0] = U32::new(4);
    policy.pids[1] = U32::new(1234);
    let bytes = message(5, VERSION, policy.as_bytes());
    let parsed = parse_request(&bytes).unwrap().1;
    assert!(matches!(parsed, Request::SetPolicy(p) if p.count.get() == 2));

    let too_many = PolicyRequest {
        count: U32::new(65),
        ..PolicyRequest::default()
    };
    let error = parse_request(&message(5, VERSION, too_many.as_bytes()))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(error, ProtocolError::OutOfRange);
    assert_eq!(error.status(), status::INVALID_PARAMETER);

    let mut stray = policy;
    stray.pids[2] = U32::new(9);
    let error = parse_request(&message(5, VERSION, stray.as_bytes()))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        error,
        ProtocolError::ReservedSet,
        "ids past count must be zero"
    );
}

#[test]
fn replies_are_checked_against_their_request() {
    let stats = StatsReply::default();
    let reply = message(Command::Stats as u16 | REPLY, VERSION, stats.as_bytes());
    assert_eq!(
        parse_reply(&reply, Command::Stats, 7).unwrap().len(),
        size_of::<StatsReply>()
    );
    assert_eq!(
        parse_reply(&reply, Command::Hello, 7),
        Err(ProtocolError::NotTheReply)
    );
    assert_eq!(
        parse_reply(&reply, Command::Stats, 8),
        Err(ProtocolError::NotTheReply)
    );
}

#[test]
fn the_writer_refuses_small_buffers_and_short_or_long_payloads() {
    let mut small = [0_u8; HEADER_SIZE + 3];
    assert!(
        MessageWriter::new(&mut small, 1, 0, 4).is_none(),
        "does not fit"
    );
    let mut out = [0_u8; 64];
    let mut short = MessageWriter::new(&mut out, 1, 0, 8).unwrap();
    short.put(&[1_u8; 4]);
    assert_eq!(short.finish(), None, "payload shorter than announced");
    let mut long = MessageWriter::new(&mut out, 1, 0, 4).unwrap();
    long.put(&[1_u8; 8]);
    assert_eq!(long.finish(), None, "payload longer than announced");
    assert_eq!(u32::from_le_bytes(out[..4].try_into().unwrap()), MAGIC);
}

#[test]
fn text_fields_cut_at_character_boundaries() {
    let mut field = [0xAA_u8; 5];
    assert_eq!(
        pushlock_protocol::put_text(&mut field, "abcdé"),
        4,
        "é does not fit whole"
    );
    assert_eq!(&field, b"abcd\0", "cut, then NUL-padded");
    assert_eq!(pushlock_protocol::text(&field), "abcd");
    assert_eq!(pushlock_protocol::text(b"ok\0\0"), "ok");
    assert_eq!(
        pushlock_protocol::text(&[b'o', b'k', 0xFF, b'x']),
        "ok",
        "invalid UTF-8 is cut"
    );
}

#[test]
fn ntstatus_values_are_microsofts() {
    use windows_sys::Win32::Foundation as ms;
    let ours_and_theirs = [
        (status::SUCCESS, ms::STATUS_SUCCESS),
        (status::DEVICE_BUSY, ms::STATUS_DEVICE_BUSY),
        (
            status::INFO_LENGTH_MISMATCH,
            ms::STATUS_INFO_LENGTH_MISMATCH,
        ),
        (status::INVALID_PARAMETER, ms::STATUS_INVALID_PARAMETER),
        (
            status::INVALID_DEVICE_REQUEST,
            ms::STATUS_INVALID_DEVICE_REQUEST,
        ),
        (status::ACCESS_DENIED, ms::STATUS_ACCESS_DENIED),
        (status::BUFFER_TOO_SMALL, ms::STATUS_BUFFER_TOO_SMALL),
        (
            status::OBJECT_NAME_NOT_FOUND,
            ms::STATUS_OBJECT_NAME_NOT_FOUND,
        ),
        (status::PORT_DISCONNECTED, ms::STATUS_PORT_DISCONNECTED),
        (status::REVISION_MISMATCH, ms::STATUS_REVISION_MISMATCH),
        (
            status::INSUFFICIENT_RESOURCES,
            ms::STATUS_INSUFFICIENT_RESOURCES,
        ),
        (status::DEVICE_NOT_READY, ms::STATUS_DEVICE_NOT_READY),
        (status::NOT_SUPPORTED, ms::STATUS_NOT_SUPPORTED),
        (
            status::CONNECTION_COUNT_LIMIT,
            ms::STATUS_CONNECTION_COUNT_LIMIT,
        ),
    ];
    for (ours, theirs) in ours_and_theirs {
        assert_eq!(ours, theirs, "{:?}", status::name(ours));
    }
    assert_eq!(status::NAMES.len(), ours_and_theirs.len());
    assert_eq!(
        status::name(status::BUFFER_TOO_SMALL),
        Some("STATUS_BUFFER_TOO_SMALL")
    );
    let hresult = status::hresult_from_nt(status::ACCESS_DENIED);
    assert_eq!(hresult.cast_unsigned(), 0xD000_0022);
    assert_eq!(
        status::nt_from_hresult(hresult),
        Some(status::ACCESS_DENIED)
    );
}
