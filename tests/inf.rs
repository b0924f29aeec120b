//! The INF template (`driver.inx`) says what a primitive Activity Monitor minifilter must, names
//! the binary the build makes, and writes both registry layouts the same way.

use std::collections::BTreeMap;

fn inx() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/driver.inx")).unwrap()
}

/// Sections and their lines, comments and blank lines dropped.
fn sections(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut sections = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            name.clone_into(&mut current);
            sections.entry(current.clone()).or_insert_with(Vec::new);
        } else {
            sections
                .entry(current.clone())
                .or_insert_with(Vec::new)
                .push(line.to_owned());
        }
    }
    sections
}

fn value<'a>(lines: &'a [String], key: &str) -> Option<&'a str> {
    lines.iter().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

#[test]
fn version_section_is_a_primitive_activity_monitor() {
    let sections = sections(&inx());
    let version = &sections["Version"];
    assert_eq!(value(version, "Signature"), Some("\"$Windows NT$\""));
    assert_eq!(value(version, "Class"), Some("\"ActivityMonitor\""));
    assert_eq!(
        value(version, "ClassGuid"),
        Some("{b86dff51-a31e-4bac-b3cf-e8cfe75c9fc2}")
    );
    assert_eq!(value(version, "PnpLockdown"), Some("1"));
    assert_eq!(value(version, "CatalogFile"), Some("pushlock_filter.cat"));
    assert!(
        !sections.contains_key("Manufacturer"),
        "a primitive driver has no [Manufacturer]"
    );
    assert!(
        sections.contains_key("DefaultInstall.NT$ARCH$"),
        "DefaultInstall is architecture-decorated"
    );
}

#[test]
fn both_layouts_install_the_same_service() {
    let sections = sections(&inx());
    for (service, dirid) in [
        ("PushLockFilter.Service", "%13%"),
        ("PushLockFilterDownlevel.Service", "%12%"),
    ] {
        let lines = &sections[service];
        assert_eq!(
            value(lines, "ServiceBinary"),
            Some(format!("{dirid}\\%DriverName%.sys").as_str())
        );
        assert_eq!(value(lines, "Dependencies"), Some("\"FltMgr\""));
        assert_eq!(value(lines, "ServiceType"), Some("2"));
        assert_eq!(value(lines, "StartType"), Some("3"));
        assert_eq!(
            value(lines, "LoadOrderGroup"),
            Some("\"FSFilter Activity Monitor\"")
        );
    }
    let new_layout = &sections["PushLockFilter.AddRegistry"];
    let downlevel = &sections["PushLockFilterDownlevel.AddRegistry"];
    assert_eq!(new_layout.len(), downlevel.len());
    for (new, old) in new_layout.iter().zip(downlevel) {
        let new = new.replacen("HKR,\"Parameters\\", "HKR,\"", 1).replacen(
            "HKR,\"Parameters\",",
            "HKR,,",
            1,
        );
        assert_eq!(
            new, *old,
            "the two layouts differ beyond the Parameters key"
        );
    }
}

#[test]
fn strings_name_the_built_binary_and_a_valid_altitude() {
    let sections = sections(&inx());
    let strings = &sections["Strings"];
    assert_eq!(
        value(strings, "DriverName"),
        Some("\"pushlock_filter\""),
        "cargo builds pushlock_filter.sys"
    );
    assert_eq!(sections["SourceDisksFiles"], ["pushlock_filter.sys = 1,,"]);
    let altitude: u32 = value(strings, "Instance1.Altitude")
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap();
    assert!(
        (360_000..=389_999).contains(&altitude),
        "Activity Monitor altitudes are 360000-389999"
    );
}
