//! Imports run one way, from the top floor down (docs/architecture.md):
//! no module of `shared/src` names a module on a floor above its own. Read
//! from the `crate::` paths in the sources (comments aside): the module
//! tree has no other record of who uses whom.

use std::path::Path;

/// Each top-level module's floor; a module may use its own floor and those
/// below. A new module must be given one here.
const FLOORS: &[(&str, u8)] = &[
    // Pure, no I/O.
    ("domain", 0),
    // I/O and state the session service builds on.
    ("privacy", 1),
    ("trust_roots", 1),
    ("aws_sdk_config", 1),
    ("fanout", 1),
    ("config", 1),
    ("callback_url", 1),
    ("reply_key", 1),
    ("function", 1),
    ("index", 1),
    ("twilio", 1),
    ("events", 1),
    ("metrics", 1),
    ("after_answer", 1),
    ("recording_deletes", 1),
    ("deferred", 1),
    // The session service.
    ("session", 2),
    // Requests, the state built once per environment, and what they share.
    ("http", 3),
    ("app", 3),
    ("logging", 3),
    ("out_of_session", 3),
    ("intercept", 3),
    // One module per route family.
    ("handlers", 4),
    // Runtime glue, the after-answer runner, and the facts about it all.
    ("lambda", 5),
    ("runner", 5),
    ("facts", 5),
    // The crate's own binaries (src/bin: the facts writer), which use it as a library.
    ("bin", 6),
];

fn floor(module: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|(_, f)| *f)
}

/// Every `crate::<module>` that `text`, in `module`, names above its floor
/// (or that has no floor), as "module -> used".
fn upward(module: &str, text: &str) -> Vec<String> {
    let Some(own) = floor(module) else {
        return vec![format!("{module} has no floor")];
    };
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            let used: String = line[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if floor(&used).is_none_or(|f| f > own) {
                found.push(format!("{module} -> {used}"));
            }
        }
    }
    found
}

/// `(top-level module, source)` of every file under `dir`.
fn sources(dir: &Path, module: Option<&str>, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let module = module.map(str::to_owned).unwrap_or(stem);
        if path.is_dir() {
            sources(&path, Some(&module), out);
        } else if path.extension().is_some_and(|e| e == "rs") && module != "lib" {
            out.push((module, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn no_module_imports_from_a_floor_above_its_own() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        None,
        &mut files,
    );
    assert!(files.len() > 50, "read {} files", files.len());
    let mut found: Vec<String> = files.iter().flat_map(|(m, t)| upward(m, t)).collect();
    found.sort();
    found.dedup();
    assert!(found.is_empty(), "upward imports: {found:#?}");
}

#[test]
fn an_upward_import_is_found_and_a_downward_one_is_not() {
    let planted = "use crate::domain::pool::Pool;\n\
                   // crate::handlers in a comment is no import\n\
                   fn f() { crate::handlers::inbound_message::REPLY_AT_MOST_EVERY; }\n";
    assert_eq!(upward("app", planted), ["app -> handlers"]);
    assert_eq!(upward("handlers", planted), Vec::<String>::new());
    assert_eq!(upward("newcomer", ""), ["newcomer has no floor"]);
}
