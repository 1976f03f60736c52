//! A step's processes: every command a step starts runs in a process group
//! of its own, and the whole group (children, grandchildren) is killed when
//! the step ends, times out or is interrupted (`cancel --now`, `pause
//! --now`), and when the process driving the run dies, even by SIGKILL.
//!
//! Dying with the driver uses no `PR_SET_PDEATHSIG`: setting it needs
//! `unsafe` code in `pre_exec` (forbidden here), it fires when the spawning
//! *thread* exits rather than the process (tokio's threads come and go),
//! and it would reach only the direct child, not the grandchildren. Instead
//! the group's first process is a small `sh` watcher holding the read end
//! of a pipe from the driver, "the lifeline". Only the driver holds the
//! write end (close-on-exec, so no other child inherits it); when the
//! driver dies for any reason the kernel closes it, the watcher reads
//! end-of-file and kills its whole group. The watcher also keeps the group
//! id in use while it lives, so the driver's own kill can never reach a
//! reused id.
//!
//! The group is recorded with the open step (see
//! [`Store::record_process`](crate::store::Store::record_process)); a
//! resume on the same host ends what is left of it ([`end_leftovers`])
//! before running the step again, should the watcher itself have been killed.

use std::cell::Cell;
use std::process::{Output, Stdio};
use tokio::process::{ChildStdin, Command};

/// The variable every step process carries: the run it belongs to (also how
/// [`end_leftovers`] recognizes a group as the run's, not a reused id's).
pub const RUN_ID_VAR: &str = "WORKFLOW_RUN_ID";

/// Run by `sh -c` as the group's first process, with the program to run and
/// its arguments as `$@`: starts the watcher on the lifeline (standard
/// input, moved to fd 3), then replaces itself with the program, standard
/// input from /dev/null. The watcher's output goes to /dev/null, so it never
/// holds the step's output pipes open.
const WATCHED: &str = "exec 3<&0 </dev/null
(read -r _ <&3; kill -s KILL 0) >/dev/null 2>&1 &
exec 3<&-
exec \"$@\"";

tokio::task_local! {
    /// The process group a step started during one poll of it, for the
    /// executor to record with the open step (a cell set for that poll only:
    /// no allocation per step).
    static GROUP: Cell<Option<u32>>;
}

/// Runs `poll` (one poll of a step's future), and says which process group
/// the step started meanwhile, if any.
pub(crate) fn reporting_groups<R>(poll: impl FnOnce() -> R) -> (R, Option<u32>) {
    GROUP.sync_scope(Cell::new(None), || {
        let polled = poll();
        (polled, GROUP.with(Cell::take))
    })
}

/// `sh -c COMMAND`, to be started with [`output`] (set its directory and environment as for any command).
pub(crate) fn shell_command(command: &str) -> Command {
    let mut cmd = program_command("sh");
    cmd.arg("-c").arg(command);
    cmd
}

/// `PROGRAM`, to be given its arguments and started with [`output`].
pub(crate) fn program_command(program: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(WATCHED).arg("sh").arg(program);
    cmd
}

/// Runs `cmd` (from [`shell_command`] or [`program_command`]) in a process
/// group of its own, tagged with `run_id` when given, and collects its
/// output. The group is killed when the command has exited (whatever it left
/// running in the background), and when this future is dropped (a timeout,
/// an interrupted step).
pub(crate) async fn output(mut cmd: Command, run_id: Option<&str>) -> std::io::Result<Output> {
    if let Some(run_id) = run_id {
        cmd.env(RUN_ID_VAR, run_id);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn()?;
    let group = Group { id: child.id(), _lifeline: child.stdin.take() };
    if let Some(id) = group.id {
        let _ = GROUP.try_with(|reported| reported.set(Some(id)));
    }
    let out = child.wait_with_output().await;
    drop(group);
    out
}

/// A step's process group; dropping it kills the group.
struct Group {
    /// The group id (the first process's pid).
    id: Option<u32>,
    /// The driver's end of the lifeline: closing it makes the watcher kill the group too.
    _lifeline: Option<ChildStdin>,
}

impl Drop for Group {
    fn drop(&mut self) {
        // Before the lifeline closes (the fields drop after this), so the
        // watcher still holds the group id and it cannot have been reused.
        if let Some(id) = self.id {
            kill_group(id);
        }
    }
}

/// Kills a process group when dropped, unless disarmed: for commands that
/// are not a step's (a gate's `notify:` commands), whose group is ended when
/// they overrun or are abandoned, but left alone after a normal exit.
pub(crate) struct GroupKill(Option<u32>);

impl GroupKill {
    /// Arms it for group `id` (the id of a child started with `process_group(0)`, not yet waited for).
    pub(crate) fn new(id: Option<u32>) -> GroupKill {
        GroupKill(id)
    }

    /// The command ended normally: its group is left alone.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            kill_group(id);
        }
    }
}

/// SIGKILL to every process of group `id` (a group already gone is no error).
fn kill_group(id: u32) {
    #[cfg(unix)]
    if let Some(pid) = i32::try_from(id).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = id;
}

/// Kills what is left of process group `group` of run `run_id` on this host,
/// when a process of the group still carries the run's id (a group id alone
/// may since have been reused by another program): the step's watcher was
/// killed along with its driver, say. Returns how many of the run's processes
/// were found. Only Linux can tell (through `/proc`); elsewhere nothing is killed.
pub(crate) fn end_leftovers(group: u32, run_id: &str) -> usize {
    let found = run_processes_in_group(group, run_id);
    if found > 0 {
        kill_group(group);
    }
    found
}

#[cfg(target_os = "linux")]
fn run_processes_in_group(group: u32, run_id: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let tag = format!("{RUN_ID_VAR}={run_id}");
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_str().is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit())))
        .filter(|entry| std::fs::read_to_string(entry.path().join("stat")).ok().and_then(|stat| group_of(&stat)) == Some(group))
        .filter(|entry| std::fs::read(entry.path().join("environ")).is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == tag.as_bytes())))
        .count()
}

#[cfg(not(target_os = "linux"))]
fn run_processes_in_group(_group: u32, _run_id: &str) -> usize {
    0
}

/// The process group in a line of `/proc/PID/stat` (`pid (comm) state ppid pgrp ...`;
/// `comm` may hold spaces and parentheses, so fields are counted after the last `)`).
#[cfg(target_os = "linux")]
fn group_of(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_group_is_read_after_the_command_name() {
        assert_eq!(group_of("4242 (sh) S 1 4242 4242 0 -1"), Some(4242));
        assert_eq!(group_of("17 (a) b) (c) R 3 99 17 0"), Some(99));
        assert_eq!(group_of("garbage"), None);
    }

    #[tokio::test]
    async fn a_command_s_background_children_die_with_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = shell_command("(sleep 1; echo late > late.txt) >/dev/null 2>&1 & echo started");
        cmd.current_dir(dir.path());
        let out = output(cmd, Some("test-run")).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "started");
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert!(!dir.path().join("late.txt").exists(), "a process the step left in the background outlived it");
    }

    #[tokio::test]
    async fn an_interrupted_step_kills_its_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = shell_command("bash -c 'sleep 1; echo late > late.txt'");
        cmd.current_dir(dir.path());
        let step = output(cmd, Some("test-run"));
        assert!(tokio::time::timeout(std::time::Duration::from_millis(200), step).await.is_err());
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert!(!dir.path().join("late.txt").exists(), "a grandchild outlived its timed-out step");
    }
}
