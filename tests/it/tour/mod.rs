//! The documents' tour: every shell block of README.md and docs/*.md runs,
//! in order, against the `squall` these tests built, in a fresh copy of the
//! repository, and each command must print what the document shows
//! (`script.rs` has the conventions). A document and the program that
//! disagree fail here, naming the document's line.
//!
//! Each run prints its commands' times to stderr (`--nocapture` shows them;
//! `scripts/pack-loop-timing.sh` reads them for docs/benchmarks.md).

mod script;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use script::{Step, Tour};

/// A document's whole run, the Rust and Python builds included.
const RUN_LIMIT: Duration = Duration::from_secs(20 * 60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("the repository")
}

#[test]
fn readme() {
    run_document("README.md");
}

#[test]
fn packs_guide() {
    run_document("docs/packs.md");
}

/// Every other document; a new one is covered without a new test.
#[test]
fn other_documents() {
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| format!("docs/{}", e.file_name().to_string_lossy()))
        .filter(|name| name.ends_with(".md") && name != "docs/packs.md")
        .collect();
    docs.sort();
    for doc in docs {
        run_document(&doc);
    }
}

/// The conventions themselves, on fixtures beside their expected steps.
#[test]
fn documents_parse_into_steps() {
    let dir = repo().join("tests/it/tour/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    squall_tests::check_expected(&files, |path| {
        let text = std::fs::read_to_string(path).expect("fixture");
        match script::parse(&text) {
            Ok(tour) => tour.to_string(),
            Err(e) => format!("error: {e}\n"),
        }
    });
}

fn run_document(doc: &str) {
    let text = std::fs::read_to_string(repo().join(doc)).expect("the document");
    let tour = script::parse(&text).unwrap_or_else(|e| panic!("{doc}: {e}"));
    if !tour.steps.iter().any(|s| matches!(s, Step::Run { .. } | Step::Server { .. })) {
        return;
    }
    if tour.variants.is_empty() {
        run_variant(doc, &tour, None, 0);
    } else {
        for (index, variant) in tour.variants.iter().enumerate() {
            let replace = (index > 0).then(|| (tour.variants[0].as_str(), variant.as_str()));
            run_variant(doc, &tour, replace, index);
        }
    }
}

/// One run of a document, in `target/tour/NAME-N`.
fn run_variant(doc: &str, tour: &Tour, replace: Option<(&str, &str)>, index: usize) {
    let label = match replace {
        Some((_, with)) => format!("{doc} ({with})"),
        None if tour.variants.is_empty() => doc.to_owned(),
        None => format!("{doc} ({})", tour.variants[0]),
    };
    let stem = doc.trim_end_matches(".md").replace('/', "-");
    let scratch = repo().join("target").join("tour").join(format!("{stem}-{index}"));
    let _ = std::fs::remove_dir_all(&scratch);
    let work = scratch.join("repo");
    copy_repository(&work);
    let results = scratch.join("results");
    let bin = scratch.join("bin");
    for dir in [&results, &bin, &scratch.join("home")] {
        std::fs::create_dir_all(dir).expect("scratch dirs");
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_squall-host"), bin.join("squall"))
        .expect("squall on the tour's PATH");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let registry = tour.registry.then(squall_tests::RegistryServer::start);
    let mut addresses = vec![("127.0.0.1:9101".to_owned(), format!("127.0.0.1:{port}"))];
    if let Some(registry) = &registry {
        addresses.push(("127.0.0.1:5000".to_owned(), registry.host_port()));
    }

    let (shell, commands) = shell_script(tour, replace, &results, &addresses);
    std::fs::write(scratch.join("tour.sh"), &shell).expect("tour.sh");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut child = Command::new("bash");
    child
        .arg(scratch.join("tour.sh"))
        .current_dir(&work)
        .env("PATH", path)
        .env("HOME", scratch.join("home"))
        .env("XDG_CONFIG_HOME", scratch.join("home/.config"))
        .env("XDG_DATA_HOME", scratch.join("home/.local/share"))
        .env("XDG_CACHE_HOME", scratch.join("home/.cache"))
        .env("SQUALL_DATA_DIR", scratch.join("data"))
        .env("SQUALL_LISTEN", format!("127.0.0.1:{port}"))
        .env("SQUALL_URL", &url)
        // Shared by every run, so a pack compiles once per test run.
        .env("SQUALL_CACHE_DIR", repo().join("target/tour/compiled"))
        .env("CARGO_TARGET_DIR", repo().join("target/tour/cargo"))
        .env("NO_COLOR", "1")
        .env_remove("SQUALL_API_KEY")
        .env_remove("SQUALL_AUTH_TOKEN")
        .env_remove("SQUALL_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(scratch.join("tour.log")).expect("tour.log"));
    std::os::unix::process::CommandExt::process_group(&mut child, 0);
    let started = Instant::now();
    let mut child = child.spawn().expect("bash");
    let finished = loop {
        if child.try_wait().expect("wait for bash").is_some() {
            break true;
        }
        if started.elapsed() > RUN_LIMIT {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Whatever the document left running (its server, a tail) goes with it.
    let group = child.id().to_string();
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
    let _ = child.wait();

    let mut timings = String::new();
    for (n, command) in commands.iter().enumerate() {
        let read = |ext: &str| std::fs::read_to_string(results.join(format!("{n}.{ext}")));
        let Ok(status) = read("status") else {
            let why = if finished { "the tour stopped before it" } else { "the run took too long" };
            panic!(
                "{label}:{}: `{}` did not run ({why}; the server log and the commands' output are in {})",
                command.line,
                command.text,
                scratch.display()
            );
        };
        let output = read("out").unwrap_or_default();
        let status: i32 = status.trim().parse().expect("a status number");
        let millis = read("ms").ok().and_then(|t| t.trim().parse::<u64>().ok()).unwrap_or(0);
        let _ = writeln!(
            timings,
            "tour: {label}:{}: {millis} ms: {}",
            command.line,
            first_line(&command.text)
        );
        let missing = script::first_missing(&command.prints, &output);
        if status != command.status || missing.is_some() {
            let mut why = String::new();
            if status != command.status {
                let _ = write!(
                    why,
                    "it exited with status {status}, the document says {}",
                    command.status
                );
            }
            if let Some(line) = missing {
                let _ = write!(
                    why,
                    "{}it did not print `{line}`",
                    if why.is_empty() { "" } else { "; " }
                );
            }
            panic!(
                "{label}:{}: the document and the program disagree: {why}\n$ {}\n{}\n(the server log and every command's output are in {})",
                command.line,
                command.text,
                tail(&output, 40),
                scratch.display()
            );
        }
    }
    drop(registry);
    eprint!("{timings}");
    eprintln!("tour: {label}: {:.1} s in all", started.elapsed().as_secs_f64());
}

/// The bash script that runs a tour's steps, and the commands in the order
/// their results are numbered.
fn shell_script(
    tour: &Tour,
    replace: Option<(&str, &str)>,
    results: &Path,
    addresses: &[(String, String)],
) -> (String, Vec<script::Command>) {
    let mut out = String::from(
        "shopt -s expand_aliases\n\
         __tour_wait_server() {\n\
         \x20 for _ in $(seq 600); do\n\
         \x20   curl -fsS -o /dev/null --max-time 2 \"$SQUALL_URL/api/v1/health\" && return 0\n\
         \x20   sleep 0.1\n\
         \x20 done\n\
         \x20 echo \"tour: no server answered at $SQUALL_URL within 60 s\" >&2; return 1\n\
         }\n\
         __tour_ms() { echo $(( $(date +%s%N) / 1000000 )); }\n",
    );
    let _ = writeln!(out, "T={}", quote(&results.display().to_string()));
    let mut commands = Vec::new();
    for step in &tour.steps {
        match step {
            Step::Skip { .. } => {}
            Step::Server { .. } => {
                out.push_str(
                    "squall serve > \"$T/server.log\" 2>&1 &\n__tour_wait_server || exit 0\n",
                );
            }
            Step::File { path, content, .. } => {
                let _ = write!(
                    out,
                    "mkdir -p \"$(dirname {p})\" && cat > {p} <<'__TOUR_FILE__'\n{content}__TOUR_FILE__\n",
                    p = quote(path)
                );
            }
            Step::Run { commands: block, .. } => {
                for command in block {
                    let mut command = command.clone();
                    if let Some((from, to)) = replace {
                        command.text = command.text.replace(from, to);
                    }
                    for (documented, real) in addresses {
                        command.text = command.text.replace(documented, real);
                    }
                    let n = commands.len();
                    let starts_server = command.starts_server();
                    let _ = write!(
                        out,
                        "__t0=$(__tour_ms)\neval \"$(cat <<'__TOUR_COMMAND__'\n{text}\n__TOUR_COMMAND__\n)\" > \"$T/{n}.out\" 2>&1 < /dev/null\n__s=$?\n",
                        text = command.text
                    );
                    if starts_server {
                        let _ =
                            writeln!(out, "__tour_wait_server >> \"$T/{n}.out\" 2>&1 || __s=99");
                    }
                    let _ = writeln!(
                        out,
                        "echo $(( $(__tour_ms) - __t0 )) > \"$T/{n}.ms\"\necho $__s > \"$T/{n}.status\"\n[ $__s = {} ] || exit 0",
                        command.status
                    );
                    commands.push(command);
                }
            }
        }
    }
    (out, commands)
}

/// The repository's files as git knows them (committed or not, ignored
/// ones left out), copied into `to`: a fresh clone's view of this tree.
fn copy_repository(to: &Path) {
    let root = repo();
    let listed = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(&root)
        .output()
        .expect("git ls-files");
    assert!(listed.status.success(), "git ls-files failed in {}", root.display());
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).expect("utf-8 file names");
        let from = root.join(name);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let target = to.join(name);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("create dir");
        std::fs::copy(&from, &target).unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
