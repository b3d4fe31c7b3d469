//! `squall role load DIR`: applies StackStorm's RBAC definition layout —
//! `DIR/roles/*.yaml`, then `DIR/assignments/*.yaml` — to the server. Every
//! file is read and checked here first (errors name the file and field);
//! if any fails, nothing is sent. Roles are sent as the files' own YAML, so
//! the server reads exactly what was checked; each assignment replaces its
//! user's whole set of roles, as StackStorm's loader does. Loading again is
//! harmless: every request replaces what it names.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use serde_json::json;

use super::client::{Client, segment};
use super::output::print_json;
use super::roles::LoadArgs;
use crate::access::{Assignment, Role, parse_assignment, parse_role};

/// A role file, checked.
#[derive(Debug)]
struct RoleFile {
    path: PathBuf,
    text: String,
    role: Role,
}

/// An assignment file, checked.
#[derive(Debug)]
struct AssignmentFile {
    path: PathBuf,
    assignment: Assignment,
}

pub(super) fn run(
    args: &LoadArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let (roles, assignments) = read(&args.dir, stderr)?;
    let client = Client::new(&args.remote)?;
    let mut loaded_roles = Vec::new();
    for file in &roles {
        let path = format!("/rbac/roles/{}", segment(&file.role.name));
        client
            .put_text(&path, "application/yaml", &file.text)
            .map_err(|e| partial(e, &file.path, &roles, loaded_roles.len(), &assignments, 0))?;
        loaded_roles.push(json!({"name": file.role.name, "file": file.path}));
    }
    let mut loaded_assignments = Vec::new();
    for file in &assignments {
        let assignment = &file.assignment;
        let path = format!("/users/{}/roles", segment(&assignment.username));
        let body = json!({"roles": assignment.roles, "enabled": assignment.enabled,
                          "description": assignment.description});
        client.put_json(&path, &body).map_err(|e| {
            partial(e, &file.path, &roles, roles.len(), &assignments, loaded_assignments.len())
        })?;
        loaded_assignments.push(json!({"user": assignment.username, "roles": assignment.roles,
                                       "enabled": assignment.enabled, "file": file.path}));
    }
    if args.remote.json {
        print_json(stdout, &json!({"roles": loaded_roles, "assignments": loaded_assignments}))?;
        return Ok(0);
    }
    for file in &roles {
        writeln!(stdout, "role {} ({})", file.role.name, file.path.display())?;
    }
    for file in &assignments {
        let assignment = &file.assignment;
        let disabled = if assignment.enabled { "" } else { " (disabled)" };
        writeln!(
            stdout,
            "assignment {}: {}{disabled} ({})",
            assignment.username,
            assignment.roles.join(", "),
            file.path.display()
        )?;
    }
    writeln!(
        stdout,
        "loaded roles: {}, assignments: {} from {}",
        roles.len(),
        assignments.len(),
        args.dir.display()
    )?;
    Ok(0)
}

/// The error when the server refuses a file part-way.
fn partial(
    error: anyhow::Error,
    file: &Path,
    roles: &[RoleFile],
    roles_done: usize,
    assignments: &[AssignmentFile],
    assignments_done: usize,
) -> anyhow::Error {
    anyhow!(
        "{}: {error:#}; loaded {roles_done} of {} roles and {assignments_done} of {} assignments \
         before it, the rest were not sent; fix it and run `squall role load` again (what was \
         loaded is replaced, not doubled)",
        file.display(),
        roles.len(),
        assignments.len()
    )
}

/// Every role and assignment file under `dir`, checked; each problem is
/// written to `stderr` on a line of its own and the whole load refused.
fn read(
    dir: &Path,
    stderr: &mut dyn Write,
) -> anyhow::Result<(Vec<RoleFile>, Vec<AssignmentFile>)> {
    let (roles_dir, assignments_dir) = (dir.join("roles"), dir.join("assignments"));
    if !roles_dir.is_dir() && !assignments_dir.is_dir() {
        bail!(
            "neither {} nor {} is a directory: expected StackStorm's RBAC layout, DIR/roles/*.yaml \
             and DIR/assignments/*.yaml",
            roles_dir.display(),
            assignments_dir.display()
        );
    }
    let mut problems = Vec::new();
    let mut roles: Vec<RoleFile> = Vec::new();
    for (path, text) in yaml_files(&roles_dir, &mut problems) {
        match parse_role(&text, &path) {
            Ok(role) => match roles.iter().find(|r| r.role.name == role.name) {
                Some(first) => problems.push(format!(
                    "{}: name: `{}` is defined in {} already",
                    path.display(),
                    role.name,
                    first.path.display()
                )),
                None => roles.push(RoleFile { path, text, role }),
            },
            Err(error) => problems.push(error.to_string()),
        }
    }
    let mut assignments: Vec<AssignmentFile> = Vec::new();
    for (path, text) in yaml_files(&assignments_dir, &mut problems) {
        match parse_assignment(&text, &path) {
            Ok(assignment) => {
                let user = &assignment.username;
                match assignments.iter().find(|a| &a.assignment.username == user) {
                    Some(first) => problems.push(format!(
                        "{}: username: `{user}` is assigned in {} already",
                        path.display(),
                        first.path.display()
                    )),
                    None => assignments.push(AssignmentFile { path, assignment }),
                }
            }
            Err(error) => problems.push(error.to_string()),
        }
    }
    if !problems.is_empty() {
        for problem in &problems {
            writeln!(stderr, "error: {}", super::output::one_line(problem))?;
        }
        let files = if problems.len() == 1 { "file does" } else { "files do" };
        bail!(
            "{} {files} not load (above); nothing was loaded: fix them and run `squall role \
             load {}` again",
            problems.len(),
            dir.display()
        );
    }
    Ok((roles, assignments))
}

/// The `*.yaml` and `*.yml` files of `dir` (none if it does not exist),
/// sorted by name, with their text; a file that cannot be read is a
/// problem.
fn yaml_files(dir: &Path, problems: &mut Vec<String>) -> Vec<(PathBuf, String)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(error) => {
            problems.push(format!("{}: cannot read the directory: {error}", dir.display()));
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file() && path.extension().is_some_and(|e| e == "yaml" || e == "yml")
        })
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((path, text)),
            Err(error) => problems.push(format!("{}: cannot read it: {error}", path.display())),
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("ok");
        std::fs::write(path, text).expect("ok");
    }

    #[test]
    fn reads_both_kinds_sorted_and_refuses_duplicates() {
        let dir = tempfile::tempdir().expect("ok");
        write(dir.path(), "roles/b.yaml", "name: ops\npermission_grants: []\n");
        write(dir.path(), "roles/a.yml", "name: dev\n");
        write(dir.path(), "roles/notes.txt", "not a role");
        write(dir.path(), "assignments/bob.yaml", "username: bob\nroles: [ops]\n");
        let (roles, assignments) = read(dir.path(), &mut Vec::new()).expect("reads");
        let names: Vec<&str> = roles.iter().map(|r| r.role.name.as_str()).collect();
        assert_eq!(names, ["dev", "ops"]);
        assert_eq!(assignments[0].assignment.roles, ["ops"]);

        write(dir.path(), "roles/c.yaml", "name: ops\n");
        let mut stderr = Vec::new();
        let error = read(dir.path(), &mut stderr).expect_err("a duplicate").to_string();
        assert!(error.starts_with("1 file does not load"), "{error}");
        let stderr = String::from_utf8(stderr).expect("ok");
        assert!(stderr.contains("c.yaml: name: `ops` is defined in"), "{stderr}");
    }

    #[test]
    fn a_directory_without_either_part_names_both() {
        let dir = tempfile::tempdir().expect("ok");
        let error = read(dir.path(), &mut Vec::new()).expect_err("empty").to_string();
        assert!(error.contains("roles") && error.contains("assignments"), "{error}");
    }
}
