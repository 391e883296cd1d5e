//! Replays every committed fuzz input (`fuzz/corpus/<target>/` and the
//! crash regressions in `fuzz/artifacts/<target>/`) through the same entry
//! points the libFuzzer targets call, on the stable toolchain.
#![allow(clippy::panic)]

use std::path::Path;

#[test]
fn committed_fuzz_inputs_replay_cleanly() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut total = 0usize;
    for (target, run) in kes_fuzz::TARGETS {
        let mut seen = 0usize;
        for dir in ["corpus", "artifacts"] {
            let dir = fuzz.join(dir).join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            files.sort();
            for file in files.iter().filter(|f| f.is_file()) {
                let data = std::fs::read(file).unwrap_or_else(|e| {
                    panic!("cannot read {}: {e}", file.display());
                });
                eprintln!("{target}: {}", file.display());
                run(&data);
                seen += 1;
            }
        }
        assert!(seen > 0, "no corpus for fuzz target '{target}'");
        total += seen;
    }
    eprintln!("replayed {total} inputs");
}
