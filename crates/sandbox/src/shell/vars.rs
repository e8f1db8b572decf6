//! Shell variables: values, export and read-only flags, `local` frames,
//! with their memory charged to the container's budget. The table is
//! copy-on-write, so a subshell (`$(...)`, `( )`, a pipeline stage) costs
//! nothing until it assigns, as a forked process's pages would.

use std::collections::HashMap;
use std::sync::Arc;

use crate::process::{Charge, MemBudget, OutOfMemory};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub value: String,
    pub exported: bool,
    pub readonly: bool,
}

/// Why an assignment failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarError {
    ReadOnly,
    Oom,
}

impl From<OutOfMemory> for VarError {
    fn from(_: OutOfMemory) -> Self {
        VarError::Oom
    }
}

/// What one variable costs beyond its name and value (its table entry).
const ENTRY: u64 = 48;

fn cost(name: &str, value: &str) -> u64 {
    (name.len() + value.len()) as u64 + ENTRY
}

pub struct Vars {
    map: Arc<HashMap<String, Var>>,
    bytes: u64,
    /// Charged only once this table owns its copy.
    charge: Charge,
    owned: bool,
}

impl Vars {
    pub fn new(mem: &Arc<MemBudget>) -> Vars {
        Vars {
            map: Arc::new(HashMap::new()),
            bytes: 0,
            charge: Charge::new(mem),
            owned: true,
        }
    }

    /// A copy for a subshell (shared until written).
    pub fn fork(&self) -> Vars {
        Vars {
            map: Arc::clone(&self.map),
            bytes: self.bytes,
            charge: Charge::new(self.charge.budget()),
            owned: false,
        }
    }

    fn own(&mut self) -> Result<&mut HashMap<String, Var>, VarError> {
        if !self.owned {
            self.charge.resize(self.bytes)?;
            self.owned = true;
        }
        Ok(Arc::make_mut(&mut self.map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(|v| v.value.as_str())
    }

    pub fn var(&self, name: &str) -> Option<&Var> {
        self.map.get(name)
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Sets a value (keeping its flags).
    pub fn set(&mut self, name: &str, value: String) -> Result<(), VarError> {
        if self.map.get(name).is_some_and(|v| v.readonly) {
            return Err(VarError::ReadOnly);
        }
        let old = self.map.get(name).map_or(0, |v| cost(name, &v.value));
        let new_bytes = self.bytes - old.min(self.bytes) + cost(name, &value);
        if self.owned {
            self.charge.resize(new_bytes)?;
        }
        let map = self.own()?;
        match map.get_mut(name) {
            Some(v) => v.value = value,
            None => {
                map.insert(
                    name.to_string(),
                    Var {
                        value,
                        exported: false,
                        readonly: false,
                    },
                );
            }
        }
        self.bytes = new_bytes;
        if self.owned {
            self.charge.resize(self.bytes)?;
        }
        Ok(())
    }

    pub fn export(&mut self, name: &str) -> Result<(), VarError> {
        if self.map.get(name).is_some_and(|v| v.exported) {
            return Ok(());
        }
        if !self.map.contains_key(name) {
            self.set(name, String::new())?;
            // `export X` of an unset X marks it without a value in real
            // shells; an empty value is the closest this table holds.
        }
        if let Some(v) = self.own()?.get_mut(name) {
            v.exported = true;
        }
        Ok(())
    }

    pub fn set_readonly(&mut self, name: &str) -> Result<(), VarError> {
        if !self.map.contains_key(name) {
            self.set(name, String::new())?;
        }
        if let Some(v) = self.own()?.get_mut(name) {
            v.readonly = true;
        }
        Ok(())
    }

    pub fn unset(&mut self, name: &str) -> Result<(), VarError> {
        match self.map.get(name) {
            None => Ok(()),
            Some(v) if v.readonly => Err(VarError::ReadOnly),
            Some(v) => {
                let c = cost(name, &v.value);
                self.own()?.remove(name);
                self.bytes = self.bytes.saturating_sub(c);
                if self.owned {
                    self.charge.resize(self.bytes)?;
                }
                Ok(())
            }
        }
    }

    /// Restores a saved entry (`local` going out of scope).
    pub fn restore(&mut self, name: &str, saved: Option<Var>) -> Result<(), VarError> {
        let old = self.map.get(name).map_or(0, |v| cost(name, &v.value));
        let new = saved.as_ref().map_or(0, |v| cost(name, &v.value));
        let map = self.own()?;
        match saved {
            Some(v) => {
                map.insert(name.to_string(), v);
            }
            None => {
                map.remove(name);
            }
        }
        self.bytes = self.bytes.saturating_sub(old) + new;
        self.charge.resize(self.bytes)?;
        Ok(())
    }

    /// Exported variables, by name.
    pub fn exported(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .map
            .iter()
            .filter(|(_, v)| v.exported)
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        v.sort();
        v
    }

    /// Every variable, by name.
    pub fn all(&self) -> Vec<(String, Var)> {
        let mut v: Vec<(String, Var)> = self
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charged_copy_on_write() {
        let mem = MemBudget::standalone(10_000);
        let mut v = Vars::new(&mem);
        v.set("x", "a".repeat(1000)).unwrap();
        assert!(mem.used() > 1000);
        let used = mem.used();
        let mut sub = v.fork();
        assert_eq!(mem.used(), used, "a fork is free until written");
        sub.set("y", "b".into()).unwrap();
        assert!(mem.used() > 2 * 1000);
        drop(sub);
        assert_eq!(mem.used(), used);
        assert_eq!(v.set("x", "c".repeat(20_000)), Err(VarError::Oom));
        assert_eq!(v.get("x").map(str::len), Some(1000));
        v.set_readonly("x").unwrap();
        assert_eq!(v.set("x", String::new()), Err(VarError::ReadOnly));
    }
}
