//! `edgeplan hash-password`: make the password hash a `userlist`'s `user … password=` takes.

use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;

use crate::model::{HashScheme, PasswordHash};

/// Hash a password for a `userlist`: read from the terminal without echo (twice), or the first
/// line of standard input
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Hash scheme (what haproxy's crypt(3) checks)
    #[arg(long, value_enum, default_value_t = HashScheme::Sha512Crypt)]
    pub scheme: HashScheme,

    /// Cost: SHA-crypt rounds (1000 to 10000, default 5000) or bcrypt's cost (4 to 6, default 5)
    #[arg(long)]
    pub cost: Option<u32>,
}

/// Run the command.
pub fn run(args: Args) -> ExitCode {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ");
        let again = first
            .as_ref()
            .ok()
            .map(|_| rpassword::prompt_password("Again: "));
        match (first, again) {
            (Ok(a), Some(Ok(b))) if a == b => Ok(a),
            (Ok(_), Some(Ok(_))) => Err("the two passwords differ".to_string()),
            (Err(e), _) | (_, Some(Err(e))) => Err(format!("cannot read the password: {e}")),
            (Ok(_), None) => Err("cannot read the password".to_string()),
        }
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map(|_| line.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("cannot read standard input: {e}"))
    };
    let made = password.and_then(|p| {
        if p.is_empty() {
            Err("the password is empty".to_string())
        } else {
            let cost = args.cost.unwrap_or(match args.scheme {
                HashScheme::Bcrypt => 5,
                _ => 5000,
            });
            PasswordHash::make(&p, args.scheme, cost).map_err(|e| format!("cannot hash it: {e}"))
        }
    });
    match made {
        Ok(h) => {
            println!("{}", h.haproxy());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
