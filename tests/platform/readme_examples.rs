//! Every shell block of the README runs, as written, against a fresh `lightspeedpay dev`: the
//! quickstart's keys, payments, sandbox behaviours, webhooks and refund cannot go stale.
//!
//! The blocks run one after another in one bash (so a variable set in one is there in the next),
//! with `set -euo pipefail` and `curl` failing on any HTTP error, in a directory whose `target/`
//! is the runner's state directory (and `examples/` the repository's); the only changes to their
//! text are the runner's port in place of the default 3000 and a free port for the example
//! webhook receiver in place of 4242. A block that cannot run here is listed in [`NOT_RUN`] with
//! the reason, and the test fails on a shell block that is neither run nor listed.

use crate::dev_runner::start_dev;
use std::os::unix::process::CommandExt;
use std::path::Path;

/// Blocks the test does not run, each found by a line it contains, and why.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "cargo run -- dev      #",
        "the test starts `lightspeedpay dev` itself before the blocks run, and `scripts/test` is \
         what runs this test",
    ),
    (
        "cargo lambda watch --manifest-path functions/Cargo.toml",
        "scripts/lambda-watch-smoke runs these steps in every scripts/test run",
    ),
    (
        "export DATABASE_MIGRATION_URL='postgres://postgres.<project-ref>",
        "migrates a Supabase project; `lightspeedpay migrate` itself is run by tests/platform/cli.rs",
    ),
    (
        "aws secretsmanager create-secret",
        "creates a secret in an AWS account",
    ),
    (
        "sam build --config-env prod",
        "deploys to an AWS account; the template is checked by cfn-lint and tests/platform/sam.rs",
    ),
    (
        "ALTER ROLE lsp_app",
        "run once by the owner of a deployed database; the role it names is the application's",
    ),
];

/// A fenced `sh` block: the README line its first command is on, and its text.
#[derive(Debug)]
struct Block {
    line: usize,
    text: String,
}

fn shell_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in readme.lines().enumerate() {
        match &mut open {
            None if line.trim_end() == "```sh" => {
                open = Some(Block {
                    line: index + 2,
                    text: String::new(),
                })
            }
            Some(_) if line.trim_end() == "```" => blocks.extend(open.take()),
            Some(block) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            None => {}
        }
    }
    assert!(open.is_none(), "a ```sh block is never closed");
    blocks
}

/// The blocks to run, after checking that every other block is listed in [`NOT_RUN`] and every
/// entry there names exactly one block.
fn blocks_to_run(readme: &str) -> Vec<Block> {
    let blocks = shell_blocks(readme);
    for (marker, _) in NOT_RUN {
        let matching = blocks.iter().filter(|b| b.text.contains(marker)).count();
        assert_eq!(
            matching, 1,
            "NOT_RUN's `{marker}` must name exactly one README block"
        );
    }
    blocks
        .into_iter()
        .filter(|b| !NOT_RUN.iter().any(|(marker, _)| b.text.contains(marker)))
        .collect()
}

/// Runs `blocks` in order against the runner at `base` whose state directory is `state`; on
/// failure says which block (by README line) failed and what it printed.
fn run(blocks: &[Block], base: &str, state: &Path) -> Result<(), String> {
    let work = crate::support::temp_dir("readme");
    std::os::unix::fs::symlink(state, work.join("target")).map_err(|e| e.to_string())?;
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::os::unix::fs::symlink(examples, work.join("examples")).map_err(|e| e.to_string())?;
    let address = base.trim_start_matches("http://");
    // The example webhook receiver's port, free here (tests run side by side).
    let receiver_port = crate::support::free_port().to_string();
    let mut script = String::from(
        "set -euo pipefail\n\
         curl() { command curl --show-error --fail-with-body \"$@\"; }\n",
    );
    for block in blocks {
        script.push_str(&format!("echo '::block {}' >&2\n", block.line));
        script.push_str(
            &block
                .text
                .replace("127.0.0.1:3000", address)
                .replace("4242", &receiver_port),
        );
    }
    // A group of its own, so what a block leaves running (the receiver, after a failure) is
    // stopped with it.
    let child = std::process::Command::new("timeout")
        .args(["300", "bash", "-c", &script])
        .current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &work)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    let group = child.id();
    let output = child.wait_with_output().map_err(|e| e.to_string());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", "--", &format!("-{group}")])
        .stderr(std::process::Stdio::null())
        .status();
    let output = output?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failed = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("::block "))
        .next_back()
        .unwrap_or("?");
    Err(format!(
        "the README block at line {failed} failed ({}):\nstdout:\n{}\nstderr:\n{stderr}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    ))
}

#[tokio::test]
async fn every_shell_block_of_the_readme_runs_and_a_broken_one_fails() {
    let readme = include_str!("../../README.md");
    let blocks = blocks_to_run(readme);
    assert!(
        blocks.iter().any(|b| b.text.contains("/refunds")),
        "the quickstart's blocks are found: {blocks:?}"
    );
    let (mut dev, _db, _creds, state) = start_dev(&[]).await;
    let blocks_owned = blocks;
    let base = dev.base.clone();
    let state_dir = state.clone();
    let (blocks_owned, outcome) = tokio::task::spawn_blocking(move || {
        let outcome = run(&blocks_owned, &base, &state_dir);
        (blocks_owned, outcome)
    })
    .await
    .unwrap();
    if let Err(e) = outcome {
        panic!(
            "{e}\nrunner log:\n{}",
            std::fs::read_to_string(&dev.stderr).unwrap_or_default()
        );
    }

    // The same blocks with one path misspelled: the run fails and names the broken block.
    let broken_at = blocks_owned
        .iter()
        .position(|b| b.text.contains("lsp /pay "))
        .expect("a block pays");
    let broken: Vec<Block> = blocks_owned
        .iter()
        .enumerate()
        .map(|(i, b)| Block {
            line: b.line,
            text: if i == broken_at {
                b.text.replacen("lsp /pay ", "lsp /payments ", 1)
            } else {
                b.text.clone()
            },
        })
        .collect();
    let line = broken[broken_at].line;
    let base = dev.base.clone();
    let failure = tokio::task::spawn_blocking(move || run(&broken, &base, &state))
        .await
        .unwrap()
        .expect_err("a broken example fails the run");
    assert!(
        failure.contains(&format!("line {line} failed")) && failure.contains("404"),
        "{failure}"
    );
    dev.terminate();
}

#[test]
fn shell_blocks_are_read_with_the_line_of_their_first_command() {
    let readme = "intro\n```sh\necho one\n```\ntext\n```python\nprint(1)\n```\n```sh\n\
                  sam build --config-env prod && sam deploy\n```\n";
    let blocks = shell_blocks(readme);
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].line, blocks[0].text.as_str()), (3, "echo one\n"));
    assert_eq!(blocks[1].line, 10);
}
