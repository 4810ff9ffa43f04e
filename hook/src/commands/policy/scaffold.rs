//! `tollgate policy new`: writes a ready policy project in any SDK language. The sources are
//! the example policies (`examples/policies/<lang>`), the SDK files and `sdk/templates/`,
//! embedded in the binary, so a project starts as the example policy and passes the
//! conformance suite (`tollgate policy test policy.wasm --conformance`) once built.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// A policy language `tollgate policy new` can start a project in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with the tollgate-sdk crate (cargo).
    Rust,
    /// C with the single header tollgate.h (clang and wasi-libc).
    C,
    /// Zig with tollgate.zig over the standard library's JSON (zig 0.17).
    Zig,
    /// AssemblyScript with tollgate.ts and assemblyscript-json (npm).
    Assemblyscript,
    /// Hand-written WebAssembly text: the minimal policy (always allows).
    Wat,
    /// A WASI command in Rust without any SDK: stdin to stdout (cargo).
    WasiCommand,
}

/// Options of `tollgate policy new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The language of the policy.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The project directory to create; its last component is the policy's name (lowercase
    /// letters, digits, `-` and `_`).
    pub name: PathBuf,
}

/// One file of a project.
struct File {
    path: &'static str,
    text: String,
    executable: bool,
}

impl File {
    fn new(path: &'static str, text: impl Into<String>) -> Self {
        Self {
            path,
            text: text.into(),
            executable: false,
        }
    }

    fn script(path: &'static str, text: impl Into<String>) -> Self {
        Self {
            executable: true,
            ..Self::new(path, text)
        }
    }
}

const README: &str = include_str!("../../../../sdk/templates/README.md");
const CARGO_BUILD: &str = include_str!("../../../../sdk/templates/cargo-build.sh");

/// What the README says about one language.
struct Readme {
    language: &'static str,
    /// Whether the project starts as the conformance suite's example policy (which
    /// `--conformance` checks); the WAT one starts as a module that always allows.
    conforms: bool,
    source: &'static str,
    sdk: &'static str,
    build: &'static str,
    module: &'static str,
}

impl Lang {
    fn readme(self) -> Readme {
        let built = |language, source, sdk, build| Readme {
            language,
            conforms: true,
            source,
            sdk,
            build,
            module: "policy.wasm",
        };
        match self {
            Lang::Rust => built(
                "Rust",
                "src/lib.rs",
                "the Rust SDK is the `tollgate-sdk` crate (`sdk/rust`).",
                "rustup target add wasm32-unknown-unknown\n./build.sh                      # → policy.wasm",
            ),
            Lang::C => built(
                "C",
                "policy.c",
                "`tollgate.h` is the C SDK, a single header (reader, writer and exports).",
                "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32   # Debian; or the wasi-sdk\n./build.sh                      # → policy.wasm",
            ),
            Lang::Zig => built(
                "Zig",
                "policy.zig",
                "`tollgate.zig` is the Zig SDK (exports and lenient readers over `std.json`).",
                "pip install ziglang==0.17.0     # or any zig 0.17: ZIG=zig ./build.sh\n./build.sh                      # → policy.wasm",
            ),
            Lang::Assemblyscript => built(
                "AssemblyScript",
                "policy.ts",
                "`tollgate.ts` is the AssemblyScript SDK (exports, readers over assemblyscript-json, output).",
                "./build.sh                      # npm ci on first use, then asc → policy.wasm",
            ),
            Lang::Wat => Readme {
                language: "WebAssembly text",
                conforms: false,
                source: "policy.wat",
                sdk: "this module is the whole contract by hand.",
                build: "# nothing to build: tollgate loads .wat text directly",
                module: "policy.wat",
            },
            Lang::WasiCommand => built(
                "Rust, as a WASI command (no SDK)",
                "src/main.rs",
                "this one is a WASI command: it reads the input on stdin and writes the output on stdout, with no SDK (ABI style B).",
                "rustup target add wasm32-wasip1\n./build.sh                      # → policy.wasm",
            ),
        }
    }

    /// The project's files for a policy called `name`.
    fn files(self, name: &str) -> Vec<File> {
        let readme = self.readme();
        let (intro, conformance, after) = if readme.conforms {
            (
                "It starts as the example policy of tollgate's conformance suite\n\
                 (`sdk/conformance/README.md` in the tollgate repository):\n\n\
                 * deny `Bash` commands containing `deny_pattern`;\n\
                 * send Opus subagents to Sonnet above 50 % of `opus_week_usd` (this week's Opus spend);\n\
                 * warn above 80 % of `block_usd` (the 5-hour block's spend).",
                format!(
                    "tollgate policy test {} --conformance     # ... checked against the example policy's answers\n",
                    readme.module
                ),
                "Once the policy is yours, `--conformance` no longer applies; `--config FILE` runs the bundled\n\
                 inputs with your own `config` table.",
            )
        } else {
            (
                "It starts as the smallest module tollgate accepts: it ignores its input and\n\
                 always allows. It is not the conformance suite's example policy, so the\n\
                 conformance check does not apply to it.",
                String::new(),
                "`--config FILE` runs the bundled inputs with your own `config` table.",
            )
        };
        let mut files = vec![File::new(
            "README.md",
            README
                .replace("{{intro}}", intro)
                .replace("{{conformance}}", &conformance)
                .replace("{{after}}", after)
                .replace("{{name}}", name)
                .replace("{{language}}", readme.language)
                .replace("{{source}}", readme.source)
                .replace("{{sdk}}", readme.sdk)
                .replace("{{build}}", readme.build)
                .replace("{{module}}", readme.module)
                .replace("{{limits}}", ""),
        )];
        let cargo_build = |target: &str, artifact: &str| {
            CARGO_BUILD
                .replace("{{target}}", target)
                .replace("{{artifact}}", artifact)
        };
        match self {
            Lang::Rust => files.extend([
                File::new(
                    "Cargo.toml",
                    include_str!("../../../../sdk/templates/rust.Cargo.toml")
                        .replace("{{name}}", name),
                ),
                File::new(
                    "src/lib.rs",
                    include_str!("../../../../examples/policies/rust/src/lib.rs"),
                ),
                File::script(
                    "build.sh",
                    cargo_build("wasm32-unknown-unknown", &name.replace('-', "_")),
                ),
            ]),
            Lang::WasiCommand => files.extend([
                File::new(
                    "Cargo.toml",
                    include_str!("../../../../sdk/templates/wasi-command.Cargo.toml")
                        .replace("{{name}}", name),
                ),
                File::new(
                    "src/main.rs",
                    include_str!("../../../../examples/policies/wasi-command/src/main.rs"),
                ),
                File::script("build.sh", cargo_build("wasm32-wasip1", name)),
            ]),
            Lang::C => files.extend([
                File::new(
                    "policy.c",
                    include_str!("../../../../examples/policies/c/policy.c"),
                ),
                File::new("tollgate.h", include_str!("../../../../sdk/c/tollgate.h")),
                File::script(
                    "build.sh",
                    include_str!("../../../../examples/policies/c/build.sh"),
                ),
            ]),
            Lang::Zig => files.extend([
                File::new(
                    "policy.zig",
                    include_str!("../../../../examples/policies/zig/policy.zig"),
                ),
                File::new(
                    "tollgate.zig",
                    include_str!("../../../../sdk/zig/tollgate.zig"),
                ),
                File::script(
                    "build.sh",
                    include_str!("../../../../examples/policies/zig/build.sh"),
                ),
            ]),
            Lang::Assemblyscript => {
                let package = |text: &str| text.replace("\"tollgate-sdk\"", &format!("{name:?}"));
                files.extend([
                    File::new(
                        "policy.ts",
                        include_str!("../../../../examples/policies/assemblyscript/policy.ts")
                            .replace("../../../sdk/assemblyscript/assembly/index", "./tollgate"),
                    ),
                    File::new(
                        "tollgate.ts",
                        include_str!("../../../../sdk/assemblyscript/assembly/index.ts"),
                    ),
                    File::new(
                        "package.json",
                        package(include_str!("../../../../sdk/assemblyscript/package.json")),
                    ),
                    File::new(
                        "package-lock.json",
                        package(include_str!(
                            "../../../../sdk/assemblyscript/package-lock.json"
                        )),
                    ),
                    File::script(
                        "build.sh",
                        include_str!("../../../../examples/policies/assemblyscript/build.sh"),
                    ),
                    File::new(".gitignore", "node_modules/\n*.wasm\n"),
                ]);
            }
            Lang::Wat => files.push(File::new(
                "policy.wat",
                include_str!("../../../../examples/policies/wat/minimal.wat"),
            )),
        }
        if matches!(self, Lang::Rust | Lang::WasiCommand) {
            files.push(File::new(".gitignore", "target/\n*.wasm\n"));
        } else if matches!(self, Lang::C | Lang::Zig) {
            files.push(File::new(".gitignore", "*.wasm\n.zig-cache/\n"));
        }
        files
    }
}

/// The policy name of a project directory: its last component, checked.
fn policy_name(dir: &Path) -> Result<String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: give a directory name", dir.display()))?;
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` is not a valid policy name: use lowercase letters, digits, `-` and `_`, starting with a letter"
        );
    }
    Ok(name.to_owned())
}

/// Writes the project; returns the paths written, relative to the project directory.
pub fn create(args: &NewArgs) -> Result<Vec<&'static str>> {
    let name = policy_name(&args.name)?;
    if args.name.exists() {
        bail!(
            "{} already exists: choose another name or remove it",
            args.name.display()
        );
    }
    let files = args.lang.files(&name);
    for file in &files {
        let path = args.name.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, &file.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        if file.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", path.display()))?;
        }
    }
    Ok(files.iter().map(|f| f.path).collect())
}

/// `tollgate policy new`: writes the project and says what to do next.
pub fn run(args: &NewArgs) -> Result<std::process::ExitCode> {
    let written = create(args)?;
    let dir = args.name.display();
    println!("Created {dir}/: {}", written.join(", "));
    let readme = args.lang.readme();
    println!("Next:");
    println!("  cd {dir}");
    if args.lang != Lang::Wat {
        println!("  ./build.sh");
    }
    if readme.conforms {
        println!("  tollgate policy test {} --conformance", readme.module);
    } else {
        println!("  tollgate policy test {}", readme.module);
    }
    println!("Then edit {} and see README.md.", readme.source);
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(
            policy_name(Path::new("a/my-policy_2")).unwrap(),
            "my-policy_2"
        );
        for bad in ["My", "2x", "a b", "é"] {
            assert!(policy_name(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_language_has_a_readme_and_a_source() {
        use clap::ValueEnum;
        for lang in Lang::value_variants() {
            let files = lang.files("p");
            let readme = lang.readme();
            assert!(files.iter().any(|f| f.path == readme.source), "{lang:?}");
            let text = &files[0].text;
            assert!(!text.contains("{{"), "{lang:?}: {text}");
            assert!(
                files
                    .iter()
                    .all(|f| !f.text.contains("../../../sdk") || f.path == "build.sh"),
                "{lang:?}: a project does not point into the repository"
            );
        }
    }
}
