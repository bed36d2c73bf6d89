//! The servers of a component, per colour: numbered by the env's container pattern, or listed
//! as `instance` children.
//!
//! Either way every colour must get at least one server, or its pool would be empty when that
//! colour is active; a pattern that cannot fill a valid host name is reported once per env,
//! not once per component and colour. URI-hashed pools also need distinct hash-ring ids.

use std::collections::BTreeMap;

use crate::model::{Color, Ident, Instance, NamePattern};
use crate::spec::{ComponentSpec, EnvSpec};

use super::{Checker, val};

/// The servers of a component named by the env's pattern: `instances=N` per colour (default 1),
/// `blue`/`green` for one, `blue-1`, `blue-2`… for several.
pub(super) fn pattern_instances(
    c: &mut Checker<'_>,
    e: &EnvSpec,
    comp: &ComponentSpec,
    pattern: Option<&NamePattern>,
    reported: &mut bool,
) -> Vec<Instance> {
    let env_name = &e.name.value;
    let n = val(&comp.instances).unwrap_or(1);
    let (Some(pattern), Some(port)) = (pattern, val(&comp.port)) else {
        return Vec::new();
    };
    let pattern_at = e.container_pattern.as_ref().map_or(e.name.at, |p| p.at);
    if n > 1
        && !pattern.has_index()
        && let Some(at) = comp.instances.as_ref().map(|i| i.at)
    {
        c.conflict(
            at,
            format!(
                "component `{}` has {n} instances per colour, but the container pattern of env `{env_name}` has no `{{index}}`",
                comp.name.value
            ),
            "several instances",
            format!(
                "add `{{index}}` (1, 2, …) to the pattern, e.g. `container-pattern \"{}\"`, or list the instances as `instance \"NAME\" color=… address=…` children",
                suggest_index(pattern)
            ),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for color in Color::ALL {
        for i in 1..=n {
            match pattern.fill(env_name, &comp.name.value, color, i) {
                Ok(host) => {
                    let name = if n == 1 {
                        color.to_string()
                    } else {
                        format!("{color}-{i}")
                    };
                    out.push(Instance {
                        name: Ident::parse(&name).unwrap(),
                        color,
                        host: host.to_string(),
                        port,
                        weight: None,
                        index: Some(i),
                    });
                }
                // One report per pattern: every component and colour would repeat it.
                Err(inv) if !*reported => {
                    *reported = true;
                    c.conflict(
                        pattern_at,
                        format!(
                            "container name of `{}` ({color}{}) is not a valid host: {}",
                            comp.name.value,
                            if n > 1 {
                                format!(" {i}")
                            } else {
                                String::new()
                            },
                            inv.reason
                        ),
                        "filled from this pattern",
                        "shorten the pattern or the component name",
                    );
                    return Vec::new();
                }
                Err(_) => return Vec::new(),
            }
        }
    }
    out
}

/// The pattern with `-{index}` added before its first dot (or at the end), for help texts.
fn suggest_index(p: &NamePattern) -> String {
    let s = p.as_str();
    match s.find('.') {
        Some(dot) => format!("{}-{{index}}{}", &s[..dot], &s[dot..]),
        None => format!("{s}-{{index}}"),
    }
}

/// The servers of a component listed as `instance` children: names unique, each colour has
/// one, `instances=` not given as well, every instance has a port.
pub(super) fn explicit_instances(
    c: &mut Checker<'_>,
    env_name: &Ident,
    comp: &ComponentSpec,
    active: Color,
) -> Vec<Instance> {
    if let Some(n) = &comp.instances {
        c.conflict(
            n.at,
            format!(
                "component `{}` has both `instances=` and `instance` children",
                comp.name.value
            ),
            "instances numbered by the pattern",
            "list the instances as `instance` children, or number them with `instances=` and the pattern's `{index}`, not both",
        );
    }
    let mut names = BTreeMap::new();
    let mut out = Vec::new();
    for i in &comp.instance_list {
        if !c.unique(&mut names, &i.name, "instance") {
            continue;
        }
        let (Some(color), Some(addr)) = (&i.color, &i.address) else {
            continue;
        };
        let Some(port) = addr.value.port.or_else(|| val(&comp.port)) else {
            c.missing(
                addr.at,
                format!(
                    "instance `{}` of component `{}` has no port",
                    i.name.value, comp.name.value
                ),
                format!(
                    "write `address=\"{}:PORT\"`, or give the component a `port=` for instances without one",
                    addr.value.host
                ),
            );
            continue;
        };
        out.push(Instance {
            name: i.name.value.clone(),
            color: color.value,
            host: addr.value.host.clone(),
            port,
            weight: val(&i.weight),
            index: None,
        });
    }
    for color in Color::ALL {
        let declared = comp
            .instance_list
            .iter()
            .any(|i| i.color.as_ref().is_some_and(|k| k.value == color));
        if !declared {
            let which = if color == active {
                format!("{color}, the active colour")
            } else {
                format!("{color}, the colour a switch would activate")
            };
            c.missing(
                comp.name.at,
                format!(
                    "component `{}` of env `{env_name}` has no instance of colour {which}",
                    comp.name.value
                ),
                format!(
                    "add `instance \"NAME\" color=\"{color}\" address=\"HOST:PORT\"`: each colour needs at least one, or its pool would be empty when it is active"
                ),
            );
        }
    }
    // Blue first, each colour in spec order.
    out.sort_by_key(|i| i.color);
    out
}

/// URI-hashed pools place each server on the hash ring by an id derived from its name; two
/// names with the same id would share their places.
pub(super) fn check_hash_ids(
    c: &mut Checker<'_>,
    env_name: &Ident,
    comp: &ComponentSpec,
    list: &[Instance],
) {
    let mut seen: BTreeMap<u32, &Ident> = BTreeMap::new();
    for i in list {
        let id = i.hash_id();
        if let Some(first) = seen.insert(id, &i.name) {
            c.conflict(
                comp.name.at,
                format!(
                    "instances `{first}` and `{}` of env `{env_name}` component `{}` get the same hash-ring id {id}",
                    i.name, comp.name.value
                ),
                "URI-hashed pool",
                "rename one of the instances",
            );
        }
    }
}
