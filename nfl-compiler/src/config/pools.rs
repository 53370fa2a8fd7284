//! `pools:`: for each `pool NAME: maglev(...)` a list of groups, each a
//! list of member values (`- [198.18.1.1, 198.18.1.2]`). Group `i` is the
//! `i`-th item; an empty list is a group with no members. The checker
//! compares the counts with the pool's declared sizes (E0722).

use std::collections::BTreeMap;

use nfl_syntax::Diagnostic;

use super::codes::{self, suggest};
use super::reader::Reader;
use super::schema::{PoolCfgSchema, PoolGroups};
use super::yaml::Node;

pub(super) fn read(r: &mut Reader, pools: &[PoolCfgSchema], node: &Node<'_>, out: &mut BTreeMap<String, PoolGroups>) {
    let help = "write one `POOL:` key per pool, each with a list of groups: `backends: [[198.18.1.1, 198.18.1.2]]`";
    let Some(pairs) = r.map(node, "`pools`", help) else { return };
    for k in r.keyed(pairs, |name| pools.iter().position(|p| p.name == name.trim())) {
        let Some(pool) = k.index.and_then(|i| pools.get(i)) else {
            let name = k.key.text.trim();
            let help = suggest(name, "maglev pools", pools.iter().map(|p| p.name.as_str()));
            r.push(Diagnostic::error(codes::UNKNOWN_POOL, format!("no maglev pool `{name}`"), k.key.span, "unknown pool").with_help(help));
            continue;
        };
        let help = "list the groups, one list of members each: `- [198.18.1.1, 198.18.1.2]`";
        let Some(groups) = r.seq(k.value, &format!("pool `{}`", pool.name), help) else { continue };
        let mut read = Vec::new();
        for g in groups {
            let what = format!("a group of pool `{}`", pool.name);
            let Some(items) = r.seq(g, &what, "write the group's members as a list: `[198.18.1.1, 198.18.1.2]`") else { continue };
            let what = format!("a member of pool `{}` (u{})", pool.name, pool.width);
            let mut members = Vec::new();
            for item in items {
                let Some(v) = r.uint(item, &what, pool.width) else { continue };
                if members.contains(&v) {
                    let d = Diagnostic::error(codes::DUPLICATE, format!("{v:#x} is listed twice in this group"), item.span(), "again here");
                    r.push(d.with_help("list each member once; Maglev gives every member an equal share"));
                    continue;
                }
                members.push(v);
            }
            read.push((members, g.span()));
        }
        out.insert(pool.name.clone(), PoolGroups { groups: read, span: k.value.span() });
    }
}
