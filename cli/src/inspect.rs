//! `tollgate inspect`: what a token says about itself, read offline (behaviour §2): its
//! prefix, its id, and whether its checksum is right. Never its secret.

use serde_json::json;
use tollgate::{TokenError, TokenFormat};

use crate::error::Failure;
use crate::output;

/// What a token is, as far as its own text tells.
#[derive(Debug, PartialEq, Eq)]
enum Reading<'a> {
    /// `<prefix>_<id>_<secret><checksum>`, the checksum right or not.
    Structured {
        prefix: &'a str,
        id: &'a str,
        checksum_ok: bool,
    },
    /// The default prefix (`tg_`), but not the rest of the form.
    Malformed { prefix: &'a str },
    /// No prefix of the format: an imported secret, with nothing to read offline.
    Opaque,
}

/// Reads `token` (`-`: from standard input) and prints what it is; a bad checksum or a
/// malformed token is refused (exit 1).
pub(crate) fn run(token: &str, json: bool) -> Result<(), Failure> {
    let token = if token == "-" {
        crate::tokens::read_stdin("the token to inspect")?
    } else {
        token.trim_ascii().to_owned()
    };
    let reading = read(&token);
    if json {
        output::print_json(&match &reading {
            Reading::Structured {
                prefix,
                id,
                checksum_ok,
            } => json!({"format": "structured", "prefix": prefix, "id": id, "checksum_valid": checksum_ok}),
            Reading::Malformed { prefix } => json!({"format": "malformed", "prefix": prefix}),
            Reading::Opaque => json!({"format": "opaque"}),
        });
    } else {
        match &reading {
            Reading::Structured {
                prefix,
                id,
                checksum_ok,
            } => {
                println!("format    structured");
                println!("prefix    {prefix}");
                println!("id        {id}");
                let checksum = if *checksum_ok { "valid" } else { "does not match" };
                println!("checksum  {checksum}");
            }
            Reading::Malformed { prefix } => {
                println!("format    malformed");
                println!("prefix    {prefix}");
            }
            Reading::Opaque => println!("format    opaque"),
        }
    }
    match reading {
        Reading::Structured { checksum_ok: false, .. } => Err(Failure::refused(
            "the checksum does not match: the token was mistyped, cut short or made up; copy it again whole",
        )),
        Reading::Malformed { prefix } => Err(Failure::refused(format!(
            "the token starts with {prefix}_ but is not <prefix>_<id>_<secret><checksum>: copy it again whole"
        ))),
        Reading::Opaque if !json => {
            eprintln!("an opaque token (an imported secret?): it has no id or checksum to read offline");
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Reads a token of the default format, or of any other prefix when it has the whole form.
fn read(token: &str) -> Reading<'_> {
    let default = TokenFormat::default();
    let format = if default.claims(token) {
        default
    } else {
        let Some(format) = token
            .split_once('_')
            .and_then(|(prefix, _)| TokenFormat::new(prefix).ok())
        else {
            return Reading::Opaque;
        };
        format
    };
    let prefix = &token[..format.prefix().len()];
    match format.parse(token) {
        Ok(Some(parsed)) => Reading::Structured {
            prefix,
            id: parsed.id(),
            checksum_ok: true,
        },
        Err(TokenError::BadChecksum) => Reading::Structured {
            prefix,
            // The form is right (the parser checked it before the checksum): the id is the
            // run between the first two underscores.
            id: token[prefix.len() + 1..].split('_').next().unwrap_or_default(),
            checksum_ok: false,
        },
        // Another prefix without the whole form: an opaque secret with an underscore in it.
        _ if format.prefix() != TokenFormat::default().prefix() => Reading::Opaque,
        _ => Reading::Malformed { prefix },
    }
}

#[cfg(test)]
mod tests {
    use super::{Reading, read};
    use tollgate::TokenFormat;

    #[test]
    fn a_token_reads_as_its_prefix_id_and_checksum() {
        let token = TokenFormat::default().generate().unwrap();
        let good = token.token().expose().to_owned();
        let mut typo = good.clone().into_bytes();
        let at = typo.len() - 10;
        typo[at] = if typo[at] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let acme = TokenFormat::new("acme").unwrap().generate().unwrap();
        let cases = [
            (
                good.as_str(),
                Reading::Structured {
                    prefix: "tg",
                    id: token.id(),
                    checksum_ok: true,
                },
            ),
            (
                typo.as_str(),
                Reading::Structured {
                    prefix: "tg",
                    id: token.id(),
                    checksum_ok: false,
                },
            ),
            (
                acme.token().expose(),
                Reading::Structured {
                    prefix: "acme",
                    id: acme.id(),
                    checksum_ok: true,
                },
            ),
            ("tg_oops", Reading::Malformed { prefix: "tg" }),
            ("legacy_key_with_underscores", Reading::Opaque),
            ("Zq8vN2xLk4pW7tRb0YcH3mJf", Reading::Opaque),
        ];
        for (token, expected) in cases {
            assert_eq!(read(token), expected, "{token}");
        }
    }
}
