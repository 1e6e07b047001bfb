//! A small command-line reader: `--name value` pairs and `--flag`s, every one used or refused.

use std::str::FromStr;

/// Arguments not yet taken.
pub struct Args {
    rest: Vec<(String, Option<String>)>,
}

impl Args {
    /// Splits `raw` into `--name [value]` pairs (`--name=value` works too).
    pub fn new(raw: &[String]) -> Self {
        let mut rest: Vec<(String, Option<String>)> = Vec::new();
        for word in raw {
            if let Some(name) = word.strip_prefix("--") {
                match name.split_once('=') {
                    Some((name, value)) => rest.push((format!("--{name}"), Some(value.into()))),
                    None => rest.push((word.clone(), None)),
                }
            } else if let Some((_, value @ None)) = rest.last_mut() {
                *value = Some(word.clone());
            } else {
                rest.push((word.clone(), None));
            }
        }
        Args { rest }
    }

    /// Takes `--name`'s value, if given.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        match self.rest.iter().position(|(n, _)| n == name) {
            None => Ok(None),
            Some(at) => match self.rest.remove(at) {
                (_, Some(value)) => Ok(Some(value)),
                (_, None) => Err(format!("{name} needs a value")),
            },
        }
    }

    /// Takes `--name`'s value, which must be given.
    pub fn required(&mut self, name: &str) -> Result<String, String> {
        self.value(name)?
            .ok_or_else(|| format!("{name} is required"))
    }

    /// Takes `--name`'s value as a number, if given.
    pub fn number<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        self.value(name)?
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("{name}: {v:?} is not a valid number"))
            })
            .transpose()
    }

    /// Takes `--name` given as a flag without a value.
    pub fn flag(&mut self, name: &str) -> Result<bool, String> {
        match self.rest.iter().position(|(n, _)| n == name) {
            None => Ok(false),
            Some(at) => match self.rest.remove(at) {
                (_, None) => Ok(true),
                (_, Some(value)) => Err(format!("{name} takes no value (got {value:?})")),
            },
        }
    }

    /// Fails if anything was not taken.
    pub fn finish(self) -> Result<(), String> {
        match self.rest.first() {
            None => Ok(()),
            Some((name, _)) => Err(format!("unexpected argument {name:?}")),
        }
    }
}
