//! A full disk: `handoff serve` with its data dir on a small tmpfs, filled to the last page
//! by a filler file. Writes are refused with `503`, `Retry-After` and a problem document
//! (never a 500, never a 2xx for what was not stored); reads still answer; a delivery
//! whose result cannot be recorded is not sent again in a tight loop; nothing refused is
//! half-written (a key refused then is new when sent again). Once the filler is gone the
//! same server takes writes again, without a restart, and all of it survives one.
//!
//! Mounting needs root: without it the test fails and says so (CI runs as root).

use crate::common::receiver::{Gate, Receiver, Reply};
use crate::common::*;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The tmpfs: room for the database and a little traffic.
const SIZE: &str = "8m";
/// Refused submissions the test wants to see before it frees the space.
const REFUSALS: usize = 10;

/// A tmpfs mounted on a directory for the life of the guard. Dropped (a panic included),
/// it is unmounted lazily: gone from the tree at once, freed when the server's files
/// close.
struct Tmpfs {
    dir: PathBuf,
    mounted: bool,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("cannot create the mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `mount` (this test needs it, as root): {e}"));
        assert!(
            out.status.success(),
            "`mount -t tmpfs` on {} failed: this test puts the data dir on a small tmpfs and \
             needs root (CI runs as root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs {
            dir: dir.to_owned(),
            mounted: true,
        }
    }

    /// Unmounts now (the server must have exited).
    fn unmount(mut self) {
        let status = Command::new("umount")
            .arg(&self.dir)
            .status()
            .expect("cannot run `umount`");
        assert!(status.success(), "umount {}: {status}", self.dir.display());
        self.mounted = false;
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Writes zeros to `file` until the file system has no page left; the bytes written.
fn fill(file: &Path) -> u64 {
    let mut f = std::fs::File::create(file).expect("cannot create the filler");
    let chunk = vec![0u8; 256 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    written
}

/// Insists on the answer a full disk gets: `503`, `Retry-After` in whole seconds, a
/// problem document.
async fn expect_full(resp: reqwest::Response) -> Value {
    let retry_after = header(&resp, "retry-after");
    let problem = expect_problem(resp, 503).await;
    let secs: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {retry_after:?} on {problem}"));
    assert!(secs >= 1, "Retry-After {secs}");
    assert_eq!(
        problem["type"], "urn:handoff:problem:unavailable",
        "{problem}"
    );
    problem
}

fn packet_for(summary: &str) -> Value {
    reply_packet(summary)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_with_503_and_the_server_recovers_when_space_returns() {
    let started = Instant::now();
    let rx = Receiver::start().await;
    let gate = Gate::default();
    // The first delivery is held until the disk is full, so that its result comes when
    // it cannot be recorded. Its attempt must outlast the wait: one that timed out would
    // be sent again, and delivered, however slow the machine (CI runs this beside the
    // ten-thousand long-polls test).
    rx.script("/hook", &[Reply::After(gate.clone(), 200)]);
    let mut app = Spawned::unstarted(
        Some(&policy(&[format!("webhook:{}", rx.url("/hook"))], "72h")),
        &notify_args(&["--delivery-timeout", "10m"]),
    );
    let tmpfs = Tmpfs::mount(&app.data_dir(), SIZE);
    app.start().await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;

    // Before: a handoff whose delivery is held, and a few more (delivered).
    let held = app.submitted_id(&agent, &packet_for("held")).await;
    let held_msg = rx.wait_for("/hook", 1, WAIT).await[0].header("webhook-id");
    let mut stored: Vec<(String, Value)> = Vec::new();
    for i in 0..10 {
        let p = packet_for(&format!("before {i}"));
        stored.push((app.submitted_id(&agent, &p).await, p));
    }
    eventually(WAIT, "the deliveries but the held one are sent", || async {
        delivery_ids(&app, "pending").await == [held_msg.clone()]
    })
    .await;

    // Full: every page of the tmpfs taken.
    let filler = app.data_dir().join("filler");
    let filled = fill(&filler);
    let full_at = Instant::now();

    // Submissions: stored (201) while SQLite still finds room in its files, then refused.
    let mut refused: Vec<(String, Value)> = Vec::new();
    let mut stored_while_full = 0;
    for i in 0.. {
        assert!(
            i < 2_000,
            "{i} submissions on a full disk and only {} refused",
            refused.len()
        );
        let key = format!("full-{i}");
        let p = packet_for(&key);
        let resp = app.submit_idempotent(&agent, &key, &p).await;
        match resp.status().as_u16() {
            201 => {
                let h = expect_json(resp, 201).await;
                stored.push((id_of(&h), p));
                stored_while_full += 1;
            }
            _ => {
                expect_full(resp).await;
                refused.push((key, p));
                if refused.len() == REFUSALS {
                    break;
                }
            }
        }
    }
    let refused_in = full_at.elapsed();

    // SQLite can still commit a write smaller than the one refused, into WAL pages a
    // refused commit had taken. Small writes (new keys) until one is refused use those up,
    // so that the held delivery's result, small too, most likely finds no room.
    let admin = app.admin_key();
    let mut keys_while_full = 0;
    for i in 0..500 {
        let resp = app
            .create_key(
                &admin,
                &json!({"role": "agent", "name": format!("filler-{i}")}),
            )
            .await;
        if resp.status().as_u16() != 201 {
            expect_full(resp).await;
            break;
        }
        keys_while_full += 1;
    }
    // The held delivery is answered now. When its result cannot be recorded it stays
    // pending and is sent again under the same id, but not in a tight loop.
    let opened = Instant::now();
    gate.open();
    eventually(
        WAIT,
        "the held delivery is sent again or recorded",
        || async {
            rx.requests_about("/hook", &held).len() >= 2
                || delivery(&app, &held_msg).await["state"] == "delivered"
        },
    )
    .await;
    let unrecordable = rx.requests_about("/hook", &held).len() >= 2;
    let seen = rx.requests_about("/hook", &held);
    assert!(seen.iter().all(|r| r.header("webhook-id") == held_msg));

    // A decision is a write too.
    let (pending, _) = stored[1].clone();
    let decision = json!({"action": "approve"});
    let decided = app.decide(&oz, &pending, &decision).await;
    let decision_refused = decided.status().as_u16() == 503;
    if decision_refused {
        expect_full(decided).await;
    } else {
        expect_json(decided, 200).await;
    }

    // Reads answer, and the server neither died nor wedged.
    for (id, p) in &stored {
        assert_eq!(&app.fetch(&agent, id).await["packet"], p, "{id}");
    }
    expect_json(app.get_path(None, "/healthz").await, 200).await;
    expect_json(app.get_path(None, "/readyz").await, 200).await;
    assert_audit_ok(&app).await;
    assert!(
        app.wait_for_exit(Duration::ZERO).await.is_none(),
        "the server exited on a full disk: {}",
        app.stderr_text()
    );

    // Space returns: the same server takes writes again (at once, or after a moment: the
    // first that fits).
    std::fs::remove_file(&filler).expect("cannot remove the filler");
    let unrecorded = rx.requests_about("/hook", &held).len();
    let full_for = opened.elapsed();
    // At most one resend a second (the outbox's backoff), and a little slack.
    assert!(
        unrecorded as f64 <= 3.0 + full_for.as_secs_f64(),
        "the held delivery went out {unrecorded} times in {full_for:?} on a full disk"
    );
    let first = Instant::now();
    loop {
        let p = packet_for("after");
        let resp = app.submit(&agent, &p).await;
        if resp.status().as_u16() == 201 {
            stored.push((id_of(&expect_json(resp, 201).await), p));
            break;
        }
        expect_full(resp).await;
        assert!(
            first.elapsed() < Duration::from_secs(10),
            "still refused 10 s after the space returned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovered_in = first.elapsed();
    for i in 0..20 {
        let p = packet_for(&format!("after {i}"));
        stored.push((app.submitted_id(&agent, &p).await, p));
    }
    // What was refused was not half-stored: sent again with its key, it is new.
    for (key, p) in &refused {
        let h = expect_json(app.submit_idempotent(&agent, key, p).await, 201).await;
        stored.push((id_of(&h), p.clone()));
    }
    if decision_refused {
        app.decided(&oz, &pending, &decision).await;
    }
    wait_delivery(&app, &held_msg, "delivered", WAIT).await;
    let sent = timeline(&app, &held)
        .await
        .iter()
        .filter(|e| e["action"] == "notification.sent")
        .count();
    assert_eq!(sent, 1, "one recorded attempt for the held delivery");

    // All of it survives a restart; the chain and the file check out; nothing else was
    // stored.
    app.restart().await;
    let admin = app.admin_key();
    for (id, p) in &stored {
        assert_eq!(&app.fetch(&admin, id).await["packet"], p, "{id}");
    }
    let (listed, next) = app.list_ids(&admin, &[("limit", "500")]).await;
    assert!(next.is_none());
    let listed: BTreeSet<String> = listed.into_iter().collect();
    let want: BTreeSet<String> = stored
        .iter()
        .map(|(id, _)| id.clone())
        .chain([held.clone()])
        .collect();
    assert_eq!(listed, want, "what is stored is what was acknowledged");
    assert_eq!(app.fetch(&admin, &pending).await["status"], "approved");
    assert_audit_ok(&app).await;
    let status = app.sigterm().await;
    assert!(status.success(), "{status}");
    let (integrity, _) = crate::storm::inspect_database(&app.db_path()).await;
    assert_eq!(integrity, ["ok"], "PRAGMA integrity_check");
    app.assert_cli_audit_verifies().await;
    tmpfs.unmount();
    println!(
        "disk full ({SIZE} tmpfs, {filled} bytes of filler): {stored_while_full} submissions \
         stored after the filler, then {REFUSALS} refused with 503 in {:.1?}, then \
         {keys_while_full} keys created before one was refused; decision refused: \
         {decision_refused}; the held delivery's result could not be recorded: \
         {unrecordable}, it went out {unrecorded} times in {full_for:.1?}; writes taken again \
         {recovered_in:.1?} after the space returned; {} handoffs in all; {:.1?} in all",
        refused_in,
        want.len(),
        started.elapsed()
    );
}
