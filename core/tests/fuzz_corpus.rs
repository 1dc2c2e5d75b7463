//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) and every committed crash input
//! (`fuzz/regressions/<target>/`) through the fuzz targets, plus a bounded loop of random and
//! mutated inputs, so a plain `cargo test` catches regressions without a fuzzer installed.
//! `FUZZ_RANDOM_ITERS` (default 300 per target) sets the random loop's length.

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::PathBuf;

fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz").join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return vec![] };
    let mut out: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .map(|p| {
            let data = std::fs::read(&p).expect("corpus file is readable");
            (p, data)
        })
        .collect();
    out.sort();
    out
}

/// Runs every input of `kind` through its target; returns how many each target got.
fn replay(kind: &str) -> Vec<(&'static str, usize)> {
    let mut counts = vec![];
    for target in targets::TARGETS {
        let mut n = 0;
        for (path, data) in inputs(kind, target) {
            let ok = std::panic::catch_unwind(|| targets::run(target, &data));
            assert!(ok.is_ok(), "fuzz target {target} fails on {}", path.display());
            n += 1;
        }
        counts.push((*target, n));
    }
    counts
}

#[test]
fn every_committed_seed_input_passes_every_fuzz_target() {
    for (target, n) in replay("corpus") {
        assert!(n > 0, "no seed input for fuzz target {target} (fuzz/corpus/{target}/ is missing or empty)");
    }
}

#[test]
fn every_committed_crash_input_stays_fixed() {
    // At least the inflate crash found by fuzz-smoke is committed; none found means the replay read nothing.
    let total: usize = replay("regressions").iter().map(|(_, n)| n).sum();
    assert!(total > 0, "no committed crash input was replayed (fuzz/regressions/<target>/ missing?)");
}

#[test]
fn bounded_random_and_mutated_inputs_pass_every_fuzz_target() {
    let iters: usize = std::env::var("FUZZ_RANDOM_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let mut rng = fastrand::Rng::with_seed(0x005e_ed0f_f022);
    for target in targets::TARGETS {
        let seeds: Vec<Vec<u8>> = inputs("corpus", target).into_iter().map(|(_, d)| d).collect();
        let iters = if *target == "session" { iters / 4 } else { iters };
        for _ in 0..iters {
            let mut data = match seeds.get(rng.usize(..seeds.len().max(1))) {
                Some(seed) if rng.bool() => seed.clone(),
                _ => (0..rng.usize(..256)).map(|_| rng.u8(..)).collect(),
            };
            for _ in 0..rng.usize(..8) {
                match rng.u8(..4) {
                    0 if !data.is_empty() => {
                        let i = rng.usize(..data.len());
                        data[i] = rng.u8(..);
                    }
                    1 => data.insert(rng.usize(..=data.len()), rng.u8(..)),
                    2 if !data.is_empty() => {
                        data.remove(rng.usize(..data.len()));
                    }
                    _ if !data.is_empty() => {
                        let i = rng.usize(..data.len());
                        data[i] ^= 1 << rng.u8(..8);
                    }
                    _ => {}
                }
            }
            let ok = std::panic::catch_unwind(|| targets::run(target, &data));
            assert!(ok.is_ok(), "fuzz target {target} fails on input {data:?}");
        }
    }
}
