//! `cargo xtask bench [--only NAME]`: runs the project's benchmarks and writes what they
//! print into `docs/PERFORMANCE.md`, which nobody edits by hand. The prose around the
//! figures is `docs/PERFORMANCE.template.md`; each `{{bench:NAME}}` line there becomes
//! that bench's section: how and when it was measured, then its output as printed.
//! A bench not run this time (`--only`, `--render`) keeps the section the file already
//! has.

use anyhow::{Context, anyhow, bail};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// One benchmark: its name (for `--only`) and how it runs from the root.
pub struct Bench {
    pub name: &'static str,
    pub runs: Runs,
}

/// How a benchmark runs.
pub enum Runs {
    /// `cargo bench -p e2e-tests --bench {name}`: the end-to-end tests' benchmarks.
    E2e,
    /// This command.
    Command(&'static [&'static str]),
}

impl Bench {
    /// The command that runs it from the root.
    pub fn command(&self) -> Vec<&'static str> {
        match self.runs {
            Runs::E2e => vec!["cargo", "bench", "-p", "e2e-tests", "--bench", self.name],
            Runs::Command(c) => c.to_vec(),
        }
    }
}

/// Every benchmark of the project, in the order `cargo xtask bench` runs them.
pub const BENCHES: &[Bench] = &[
    Bench {
        name: "policy",
        runs: Runs::Command(&["cargo", "bench", "-p", "sharing-policy"]),
    },
    Bench {
        name: "routes",
        runs: Runs::E2e,
    },
    Bench {
        name: "core_api",
        runs: Runs::E2e,
    },
    Bench {
        name: "delivered_members",
        runs: Runs::E2e,
    },
    Bench {
        name: "apply_defaults",
        runs: Runs::E2e,
    },
    Bench {
        name: "delivery",
        runs: Runs::E2e,
    },
    Bench {
        name: "bench-init",
        runs: Runs::Command(&["cargo", "xtask", "bench-init"]),
    },
];

const TEMPLATE: &str = "docs/PERFORMANCE.template.md";
const OUTPUT: &str = "docs/PERFORMANCE.md";

/// Where and when a run happened.
pub struct Run {
    pub date: String,
    pub commit: String,
    pub machine: String,
}

impl Run {
    fn here() -> Run {
        let out = |cmd: &str, args: &[&str]| {
            Command::new(cmd)
                .args(args)
                .current_dir(crate::root())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let mut commit = out("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_default();
        if out("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty())
        {
            commit.push_str(" with uncommitted changes");
        }
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kb: f64 = m
                    .lines()
                    .find(|l| l.starts_with("MemTotal:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                Some(format!("{:.0} GB", kb / 1024.0 / 1024.0))
            })
            .unwrap_or_else(|| "unknown memory".to_owned());
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        Run {
            date: out("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
            commit,
            machine: format!("{cores} cores, {memory}, load average {load} at its start"),
        }
    }
}

fn begin(name: &str) -> String {
    format!("<!-- bench:{name} -->")
}

fn end(name: &str) -> String {
    format!("<!-- /bench:{name} -->")
}

/// A bench's section: how and when it was measured, then what it printed.
pub fn section(bench: &Bench, run: &Run, stdout: &str) -> String {
    format!(
        "{}\n*`{}`: {}, commit {}, {}.*\n\n```text\n{}\n```\n{}",
        begin(bench.name),
        bench.command().join(" "),
        run.date,
        run.commit,
        run.machine,
        stdout.trim_end(),
        end(bench.name)
    )
}

/// The section of `name` in a file this module wrote, markers included.
pub fn previous_section(file: &str, name: &str) -> Option<String> {
    let (b, e) = (begin(name), end(name));
    let from = file.find(&b)?;
    let to = file.get(from..)?.find(&e)? + from + e.len();
    file.get(from..to).map(str::to_owned)
}

/// The whole file: the header, then the template with each `{{bench:NAME}}` line replaced
/// by that bench's fresh section, else its previous one.
pub fn render(
    template: &str,
    previous: &str,
    fresh: &[(&str, String)],
    run: &Run,
    what: &str,
) -> anyhow::Result<String> {
    let mut out = format!(
        "<!-- Generated by `cargo xtask bench` (infra/xtask/src/bench.rs) from {TEMPLATE}: \
         do not edit by hand; change the template or the benches, then run it. -->\n\n\
         Last written by `{what}` on {}, commit {}, {}. Each section says when its own \
         figures were measured.\n",
        run.date, run.commit, run.machine
    );
    for line in template.lines() {
        let Some(name) = line
            .trim()
            .strip_prefix("{{bench:")
            .and_then(|l| l.strip_suffix("}}"))
        else {
            out.push('\n');
            out.push_str(line);
            continue;
        };
        if !BENCHES.iter().any(|b| b.name == name) {
            bail!("{TEMPLATE} names an unknown bench {name:?}");
        }
        let body = match fresh.iter().find(|(n, _)| *n == name) {
            Some((_, s)) => s.clone(),
            None => previous_section(previous, name).unwrap_or_else(|| {
                format!(
                    "{}\n*Not measured yet: `cargo xtask bench --only {name}`.*\n{}",
                    begin(name),
                    end(name)
                )
            }),
        };
        out.push('\n');
        out.push_str(&body);
    }
    out.push('\n');
    Ok(out)
}

/// Runs `bench`, echoing its output as it comes, and answers what it printed on stdout.
fn capture(bench: &Bench) -> anyhow::Result<String> {
    let command = bench.command();
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow!("bench {} has no command", bench.name))?;
    eprintln!("==> {}", command.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .current_dir(crate::root())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", command.join(" ")))?;
    let mut printed = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            println!("{line}");
            printed.push_str(&line);
            printed.push('\n');
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{} failed ({status})", command.join(" "));
    }
    Ok(printed)
}

/// What `cargo xtask bench` is asked to run.
#[derive(clap::Args)]
pub struct Args {
    /// Only this bench (the others' sections stay as they are).
    #[arg(long)]
    pub only: Option<String>,
    /// Run no bench: rewrite the file from the template (after a change of its prose)
    /// and the sections the file already has.
    #[arg(long, conflicts_with = "only")]
    pub render: bool,
}

/// `cargo xtask bench [--only NAME | --render]`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let only = args.only.as_deref();
    let chosen: Vec<&Bench> = match only {
        _ if args.render => vec![],
        Some(name) => vec![BENCHES.iter().find(|b| b.name == name).ok_or_else(|| {
            let names: Vec<&str> = BENCHES.iter().map(|b| b.name).collect();
            anyhow!("no bench {name:?}; the benches: {}", names.join(", "))
        })?],
        None => BENCHES.iter().collect(),
    };
    let root = crate::root();
    let template = std::fs::read_to_string(root.join(TEMPLATE))
        .with_context(|| format!("cannot read {TEMPLATE}"))?;
    let mut fresh = Vec::new();
    for bench in chosen {
        let run = Run::here();
        let printed = capture(bench)?;
        fresh.push((bench.name, section(bench, &run, &printed)));
    }
    let previous = std::fs::read_to_string(root.join(OUTPUT)).unwrap_or_default();
    let what = match only {
        _ if args.render => "cargo xtask bench --render".to_owned(),
        Some(name) => format!("cargo xtask bench --only {name}"),
        None => "cargo xtask bench".to_owned(),
    };
    let text = render(&template, &previous, &fresh, &Run::here(), &what)?;
    std::fs::write(root.join(OUTPUT), text).with_context(|| format!("cannot write {OUTPUT}"))?;
    eprintln!("wrote {OUTPUT}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_at(date: &str) -> Run {
        Run {
            date: date.to_owned(),
            commit: "abc1234".to_owned(),
            machine: "2 cores, 23 GB, load average 1.0 at its start".to_owned(),
        }
    }

    fn bench(name: &str) -> &'static Bench {
        BENCHES.iter().find(|b| b.name == name).unwrap()
    }

    /// A bench run this time replaces its section; one not run keeps the section the
    /// file had, figures and date included; one never run says how to run it.
    #[test]
    fn a_run_rewrites_its_own_section_and_keeps_the_others() {
        let template = "# Performance\n\nPolicy prose.\n{{bench:policy}}\n\nRoutes prose.\n{{bench:routes}}\n{{bench:core_api}}\n";
        let old = render(
            template,
            "",
            &[
                (
                    "policy",
                    section(bench("policy"), &run_at("day 1"), "old policy\n"),
                ),
                (
                    "routes",
                    section(bench("routes"), &run_at("day 1"), "old routes\n"),
                ),
            ],
            &run_at("day 1"),
            "cargo xtask bench",
        )
        .unwrap();
        let new = render(
            template,
            &old,
            &[(
                "policy",
                section(bench("policy"), &run_at("day 2"), "new policy\n"),
            )],
            &run_at("day 2"),
            "cargo xtask bench --only policy",
        )
        .unwrap();
        assert!(new.starts_with("<!-- Generated by `cargo xtask bench`"));
        assert!(new.contains("Last written by `cargo xtask bench --only policy` on day 2"));
        assert!(new.contains("Policy prose.") && new.contains("Routes prose."));
        let policy = previous_section(&new, "policy").unwrap();
        assert!(policy.contains("new policy") && policy.contains("day 2"));
        assert!(!new.contains("old policy"));
        assert!(policy.contains("`cargo bench -p sharing-policy`"));
        let routes = previous_section(&new, "routes").unwrap();
        assert_eq!(routes, previous_section(&old, "routes").unwrap());
        assert!(routes.contains("old routes") && routes.contains("day 1"));
        assert!(
            previous_section(&new, "core_api")
                .unwrap()
                .contains("cargo xtask bench --only core_api")
        );
        // Rendering again from its own output changes nothing but what it is told.
        let again = render(
            template,
            &new,
            &[],
            &run_at("day 2"),
            "cargo xtask bench --only policy",
        )
        .unwrap();
        assert_eq!(again, new);
    }

    #[test]
    fn the_template_names_every_bench_once_and_only_known_ones() {
        let template = std::fs::read_to_string(crate::root().join(TEMPLATE)).unwrap();
        for b in BENCHES {
            let line = format!("{{{{bench:{}}}}}", b.name);
            assert_eq!(template.matches(&line).count(), 1, "{line}");
        }
        assert!(render("{{bench:nope}}", "", &[], &run_at("d"), "x").is_err());
        let file = std::fs::read_to_string(crate::root().join(OUTPUT)).unwrap();
        for b in BENCHES {
            assert!(
                previous_section(&file, b.name).is_some(),
                "{OUTPUT}: {}",
                b.name
            );
        }
    }
}
