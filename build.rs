//! Build facts for `ringwrite --version` and `ringwrite_build_info` (Prometheus prints the
//! same: version, branch, revision, build user, build date, compiler version).
//!
//! Each can be given from outside (a Docker build has no `.git`): `RINGWRITE_REVISION`,
//! `RINGWRITE_BRANCH`, `RINGWRITE_BUILD_USER`, and `SOURCE_DATE_EPOCH` for reproducible
//! dates. Otherwise git is asked, and "unknown" is used when it cannot answer.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn env_or(name: &str, fallback: impl FnOnce() -> Option<String>) -> String {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(fallback)
        .unwrap_or_else(|| "unknown".to_string())
}

/// `YYYYMMDD-HH:MM:SS` (Prometheus's build date format), UTC.
fn format_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn main() {
    // Re-run when HEAD moves (a commit, a checkout), in a clone or a worktree.
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            if let Some(p) = git(&["rev-parse", "--git-path", &r]) {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    let revision = env_or("RINGWRITE_REVISION", || git(&["rev-parse", "HEAD"]));
    let branch = env_or("RINGWRITE_BRANCH", || {
        git(&["rev-parse", "--abbrev-ref", "HEAD"])
    });
    let user = env_or("RINGWRITE_BUILD_USER", || {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .or_else(|| {
                let out = Command::new("id").arg("-un").output().ok()?;
                Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
            })
            .filter(|u| !u.is_empty())?;
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string());
        Some(format!("{user}@{host}"))
    });
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rust_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=RINGWRITE_REVISION={revision}");
    println!("cargo:rustc-env=RINGWRITE_BRANCH={branch}");
    println!("cargo:rustc-env=RINGWRITE_BUILD_USER={user}");
    println!(
        "cargo:rustc-env=RINGWRITE_BUILD_DATE={}",
        format_date(epoch)
    );
    println!("cargo:rustc-env=RINGWRITE_RUST_VERSION={rust_version}");
    println!("cargo:rustc-env=RINGWRITE_TARGET={target}");
}
