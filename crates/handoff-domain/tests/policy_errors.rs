//! A policy that fails to load never half-loads: every error is reported with its line
//! and column, and no `Policy` comes back.

use handoff_domain::Policy;

fn errors(text: &str) -> Vec<String> {
    match Policy::load(text) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

const TEAMS: &str = "[teams.ops]\nmembers = [\"oz\"]\n";

#[test]
fn bad_toml_is_refused_with_its_position() {
    let e = errors("[defaults\nlevel = 2\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("1:10: "), "{e:?}");
}

#[test]
fn unknown_fields_are_refused() {
    let e = errors(&format!("{TEAMS}[defaults]\nlevle = 2\n"));
    assert!(e[0].starts_with("4:1: unknown field `levle`"), "{e:?}");
    let e = errors(&format!("{TEAMS}[tasks.x]\nlevel = 2\ncolour = \"red\"\n"));
    assert!(e[0].contains("unknown field `colour`"), "{e:?}");
    let e = errors(&format!(
        "{TEAMS}[[rules]]\nname = \"r\"\nwhen = \"true\"\nlvl = 2\n"
    ));
    assert!(e[0].contains("unknown field `lvl`"), "{e:?}");
}

#[test]
fn levels_outside_one_to_four_are_refused() {
    let e = errors(&format!(
        "{TEAMS}[tasks.x]\nlevel = 5\n[[rules]]\nname = \"r\"\nwhen = \"true\"\nlevel = 0\n"
    ));
    assert_eq!(
        e,
        [
            "4:9: level must be 1, 2, 3 or 4, not 5",
            "8:9: level must be 1, 2, 3 or 4, not 0",
        ]
    );
}

#[test]
fn bad_durations_are_refused() {
    let e = errors(&format!(
        "{TEAMS}[defaults]\nsla = \"soon\"\nexpire_after = \"3 days\"\n"
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("4:7: `soon` is not a duration"));
    assert!(e[1].starts_with("5:16: `3 days` is not a duration"));
}

#[test]
fn bad_cel_is_refused() {
    let e = errors(&format!(
        "{TEAMS}[[rules]]\nname = \"r\"\nwhen = \"handoff.flags ==\"\n"
    ));
    assert!(
        e.len() == 1 && e[0].starts_with("5:") && e[0].contains("bad CEL"),
        "{e:?}"
    );
}

#[test]
fn conditions_naming_unknown_variables_are_refused() {
    let e = errors(&format!(
        "{TEAMS}[[rules]]\nname = \"r\"\nwhen = \"handof.flags.size() > 0\"\n"
    ));
    assert_eq!(
        e,
        ["5:8: condition uses unknown variable `handof`; conditions see handoff, context and now"]
    );
}

#[test]
fn routes_and_escalations_must_name_existing_teams() {
    let e = errors(&format!(
        "{TEAMS}[teams.a]\nescalate_to = \"ghost\"\n[tasks.x]\nroute = \"nowhere\"\n[[rules]]\nname = \"r\"\nwhen = \"true\"\nroute = \"void\"\n[defaults]\nroute = \"nobody\"\n"
    ));
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(
        e.iter()
            .any(|m| m.starts_with("4:15: escalate_to names team `ghost`"))
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("6:9: route names team `nowhere`"))
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("10:9: route names team `void`"))
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("12:9: defaults.route names team `nobody`"))
    );
}

#[test]
fn the_default_route_must_exist() {
    let e = errors("[teams.sales]\nmembers = []\n");
    assert!(e[0].contains("no team `ops`"), "{e:?}");
}

#[test]
fn escalation_cycles_are_refused() {
    let e = errors(&format!(
        "{TEAMS}escalate_to = \"b\"\n[teams.b]\nescalate_to = \"ops\"\n"
    ));
    assert!(e.iter().any(|m| m.contains("loops back")), "{e:?}");
}

#[test]
fn each_team_on_an_escalation_loop_is_named_in_order_and_lead_ins_are_not() {
    let e = errors(&format!(
        "{TEAMS}escalate_to = \"b\"\n[teams.b]\nescalate_to = \"c\"\n[teams.c]\nescalate_to = \"b\"\n"
    ));
    assert_eq!(
        e,
        [
            "5:15: escalation loops back to `b`: b -> c -> b",
            "7:15: escalation loops back to `c`: c -> b -> c",
        ]
    );
}

#[test]
fn notify_targets_must_be_well_formed() {
    let e = errors(
        "[teams.ops]\nnotify = [\"webhook:https://x.example/h\", \"slack:nope\", \"email:ops@example.com\", \"pager:1\"]\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
}

#[test]
fn test_packets_are_checked_when_the_policy_loads() {
    let e = errors(&format!(
        "{TEAMS}[[tests]]\nname = \"t\"\npacket = {{ task = \"x\", confidence = 2.0 }}\nexpect = {{ level = 9 }}\n"
    ));
    assert!(
        e.iter().any(|m| m.contains("packet summary: is required")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("packet confidence: must be between 0 and 1")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("level must be 1, 2, 3 or 4, not 9")),
        "{e:?}"
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let e = errors(&format!(
        "{TEAMS}[defaults]\nlevel = 7\nsla = \"x\"\n[learning]\nmax_error_rate = 3.0\n[tasks.y]\nrubric = {{ impact = \"huge\" }}\n"
    ));
    assert_eq!(e.len(), 4, "{e:?}");
}

#[test]
fn the_fast_trip_is_read_with_its_defaults_and_checked() {
    let p = Policy::load(TEAMS).expect("a minimal policy loads");
    assert_eq!((p.learning.trip_errors, p.learning.trip_window), (3, 10));
    let p = Policy::load(&format!(
        "{TEAMS}[learning]\ntrip_errors = 2\ntrip_window = 5\n"
    ))
    .expect("a fast trip loads");
    assert_eq!((p.learning.trip_errors, p.learning.trip_window), (2, 5));

    let e = errors(&format!("{TEAMS}[learning]\ntrip_errors = 0\n"));
    assert_eq!(e, ["4:15: trip_errors must be at least 1"]);
    let e = errors(&format!("{TEAMS}[learning]\ntrip_window = 0\n"));
    assert_eq!(e, ["4:15: trip_window must be at least 1"]);
    let e = errors(&format!(
        "{TEAMS}[learning]\ntrip_errors = 4\ntrip_window = 3\n"
    ));
    assert_eq!(e, ["4:15: trip_errors (4) must be at most trip_window (3)"]);
    let e = errors(&format!("{TEAMS}[learning]\ntrip_window = 2\n"));
    assert_eq!(e, ["4:15: trip_errors (3) must be at most trip_window (2)"]);
}
