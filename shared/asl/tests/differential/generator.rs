//! Random wait-free state machines and inputs, deterministic from a seed.
//!
//! A definition is a "spine" of steps (Pass, Choice, Parallel, Map, a counted loop, and
//! rarely a Fail); every step writes its result to a fresh `$.rN` so the fields the
//! generator reads (`$.s`, `$.n`, `$.o.x`, …) stay where it expects them. Parallel branches
//! see the same input; Map iterations get those fields plus `item` and `idx` through an
//! `ItemSelector` (or the legacy `Parameters`), so any spine can run inside any of them.
//! Nesting depth and spine lengths are bounded, and so is the input.
//!
//! Choice rules use every comparison operator, in literal and `…Path` form where AWS has
//! one, the type tests, `IsPresent`, `StringMatches` and `And`/`Or`/`Not`, on values picked
//! to land on both sides of each comparison (equal values, type mismatches, `null`, an
//! absent field).

use serde_json::{Map, Value, json};

/// SplitMix64: tiny, fast, and its stream never changes with a crate upgrade, so a seed
/// printed today reproduces the same definition later.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One element of `xs`.
    pub(crate) fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

const STRINGS: &[&str] = &[
    "alpha",
    "beta",
    "Beta",
    "",
    "log-2024.txt",
    "a*b",
    "a,b,,c",
    "héllo",
    "2024-01-01T00:00:00Z",
];
const PATTERNS: &[&str] = &[
    "*",
    "a*",
    "*a",
    "b*a",
    "*.txt",
    "log-*.txt",
    "a\\*b",
    "",
    "*eta",
    "a*b*",
    "h*o",
    "\\\\*",
];
const TIMESTAMPS: &[&str] = &[
    "2024-01-01T00:00:00Z",
    "2024-06-30T12:30:00Z",
    "2023-12-31T23:59:59Z",
];
/// RFC 3339 forms beyond `YYYY-MM-DDTHH:MM:SSZ` (an offset, fractional seconds), used only
/// in "exotic" cases: moto does not read them as timestamps (see `moto-deviations.md`).
const EXOTIC_TIMESTAMPS: &[&str] = &[
    "2024-01-01T01:00:00+01:00",
    "2024-06-30T12:30:00.500Z",
    "2024-01-01T00:00:00Z",
];
const NOT_TIMESTAMPS: &[&str] = &["not-a-time", "2024-01-01", "2024-01-01 00:00:00Z"];

fn number(r: &mut Rng) -> Value {
    match r.below(8) {
        0 => json!(0),
        1 => json!(1),
        2 => json!(5),
        3 => json!(-3),
        4 => json!(2.5),
        5 => json!(5.0),
        6 => json!(100),
        _ => json!(r.below(10)),
    }
}

fn string(r: &mut Rng) -> Value {
    json!(r.pick(STRINGS))
}

fn timestamp(r: &mut Rng, exotic: bool) -> Value {
    json!(r.pick(if exotic {
        EXOTIC_TIMESTAMPS
    } else {
        TIMESTAMPS
    }))
}

fn timestamp_or_not(r: &mut Rng, exotic: bool) -> Value {
    if r.chance(80) {
        timestamp(r, exotic)
    } else {
        json!(r.pick(NOT_TIMESTAMPS))
    }
}

fn any_value(r: &mut Rng, exotic: bool) -> Value {
    match r.below(7) {
        0 => string(r),
        1 => number(r),
        2 => json!(r.chance(50)),
        3 => Value::Null,
        4 => json!({"k": string(r)}),
        5 => json!([1, "two"]),
        _ => timestamp_or_not(r, exotic),
    }
}

/// The fields every generated state reads; [`input`] fills them all (only `v` may be absent).
pub(crate) const FIELDS: &[&str] = &[
    "s", "s2", "n", "n2", "b", "b2", "t", "t2", "z", "v", "a", "o", "o2", "items", "csv", "js",
];

/// A random input document.
pub(crate) fn input(r: &mut Rng, exotic: bool) -> Value {
    let mut m = Map::new();
    m.insert("s".into(), string(r));
    m.insert("s2".into(), string(r));
    m.insert("n".into(), number(r));
    m.insert("n2".into(), number(r));
    m.insert("b".into(), json!(r.chance(50)));
    m.insert("b2".into(), json!(r.chance(50)));
    m.insert("t".into(), timestamp_or_not(r, exotic));
    m.insert("t2".into(), timestamp(r, exotic));
    m.insert("z".into(), Value::Null);
    if r.chance(75) {
        m.insert("v".into(), any_value(r, exotic));
    }
    let len = r.below(4);
    m.insert(
        "a".into(),
        Value::Array((0..len).map(|_| json!(r.below(4))).collect()),
    );
    m.insert(
        "o".into(),
        json!({"k": string(r), "x": number(r), "inner": {"y": r.chance(50)}}),
    );
    m.insert("o2".into(), json!({"x": number(r), "extra": [1, 2]}));
    let len = r.below(4);
    m.insert(
        "items".into(),
        Value::Array(
            (0..len)
                .map(|i| json!({"id": i, "name": string(r), "n": number(r)}))
                .collect(),
        ),
    );
    m.insert("csv".into(), json!(r.pick(&["a,b,c", "x", "", "1,,2"])));
    m.insert(
        "js".into(),
        json!(r.pick(&[r#"{"a": 1, "b": [true, null]}"#, "[1,2]", "\"str\"", "12"])),
    );
    Value::Object(m)
}

/// Bounds: nesting depth of Parallel/Map and spine length at the top.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    /// Maximum Parallel/Map nesting.
    pub depth: usize,
    /// Maximum steps in the top-level spine.
    pub steps: usize,
}

/// A generated case.
pub(crate) struct Generated {
    /// The definition.
    pub definition: Value,
    /// The execution input.
    pub input: Value,
    /// Whether timestamps with offsets or fractional seconds may appear (about 1 case in 7).
    pub exotic_timestamps: bool,
}

/// Generates one definition and its input.
pub(crate) fn case(r: &mut Rng, limits: Limits) -> Generated {
    let exotic = r.chance(15);
    let mut g = Gen {
        r,
        names: 0,
        exotic,
    };
    let steps = 1 + g.r.below(limits.steps);
    let definition = g.machine(limits.depth, steps, true);
    let input = input(g.r, exotic);
    Generated {
        definition,
        input,
        exotic_timestamps: exotic,
    }
}

struct Gen<'a> {
    r: &'a mut Rng,
    names: usize,
    exotic: bool,
}

impl Gen<'_> {
    fn name(&mut self, kind: &str) -> String {
        self.names += 1;
        format!("{kind}{}", self.names)
    }

    /// A state machine (top level or branch) of `steps` steps.
    fn machine(&mut self, depth: usize, steps: usize, top: bool) -> Value {
        let mut states = Map::new();
        let names: Vec<String> = (0..steps).map(|_| self.name("S")).collect();
        let end = self.name("End");
        for (i, name) in names.iter().enumerate() {
            let next = names.get(i + 1).unwrap_or(&end).clone();
            let slot = format!("$.r{i}");
            self.step(&mut states, name, &next, &slot, depth);
        }
        // The last state keeps the output small: the results only (or, at the top, often
        // the whole document, or a Fail).
        let last = match self.r.below(if top { 9 } else { 4 }) {
            0 => json!({"Type": "Succeed"}),
            1 => {
                let keep: Map<String, Value> = (0..steps)
                    .map(|i| (format!("r{i}.$"), json!(format!("$.r{i}"))))
                    .collect();
                json!({"Type": "Pass", "Parameters": keep, "End": true})
            }
            2 => {
                json!({"Type": "Pass", "OutputPath": format!("$.r{}", self.r.below(steps)), "End": true})
            }
            3 => json!({"Type": "Pass", "InputPath": "$.o", "ResultPath": "$.copy", "End": true}),
            4..=7 => json!({"Type": "Pass", "End": true}),
            _ => {
                if self.r.chance(50) {
                    json!({"Type": "Fail", "Error": "Custom.Error", "Cause": "generated"})
                } else {
                    json!({"Type": "Fail", "ErrorPath": "$.s", "CausePath": "States.Format('n={}', $.n)"})
                }
            }
        };
        states.insert(end, last);
        json!({"StartAt": names[0], "States": states})
    }

    fn step(
        &mut self,
        states: &mut Map<String, Value>,
        name: &str,
        next: &str,
        slot: &str,
        depth: usize,
    ) {
        // Parallel and Map only while depth remains, and then for one step in four (moto
        // runs a state every ~10 ms, so the cases must stay small).
        let kind = match self.r.below(8) {
            k @ 6..=7 if depth > 0 => k - 3,
            k => k % 3,
        };
        match kind {
            0 => {
                let s = self.pass(slot, next);
                states.insert(name.into(), s);
            }
            1 => self.choice(states, name, next, slot),
            2 => self.counted_loop(states, name, next, slot),
            3 => {
                let s = self.parallel(slot, next, depth);
                states.insert(name.into(), s);
            }
            _ => {
                let s = self.map(slot, next, depth);
                states.insert(name.into(), s);
            }
        }
    }

    fn pass(&mut self, slot: &str, next: &str) -> Value {
        let mut s = Map::new();
        s.insert("Type".into(), json!("Pass"));
        match self.r.below(5) {
            0 => {
                s.insert("Result".into(), any_value(self.r, self.exotic));
            }
            1 => {
                s.insert(
                    "InputPath".into(),
                    json!(self.r.pick(&["$.o", "$.items", "$.a", "$"])),
                );
            }
            _ => {
                s.insert("Parameters".into(), self.parameters(2));
            }
        }
        s.insert("ResultPath".into(), json!(slot));
        s.insert("Next".into(), json!(next));
        Value::Object(s)
    }

    /// A Parameters / ResultSelector template.
    fn parameters(&mut self, depth: usize) -> Value {
        let mut m = Map::new();
        let n = 1 + self.r.below(4);
        for i in 0..n {
            match self.r.below(if depth > 0 { 5 } else { 4 }) {
                0 => {
                    m.insert(format!("lit{i}"), any_value(self.r, self.exotic));
                }
                1 if self.r.chance(10) => {
                    // Keyed `ctx…` so that the deviation check can find it (see main.rs).
                    m.insert(format!("ctx{i}.$"), json!("$$.Execution.Input.s"));
                }
                1 if self.r.chance(10) => {
                    // Keyed `flt…` so that the deviation check can find it (see main.rs).
                    m.insert(
                        format!("flt{i}.$"),
                        json!(
                            self.r
                                .pick(&["$.items[?(@.n > 2)].name", "$.items[?(@.id == 1)]"])
                        ),
                    );
                }
                1 => {
                    let path = self.path();
                    // Keyed `ix…` when it goes through an index (see main.rs).
                    let key = if path.contains("[0].") { "ix" } else { "p" };
                    m.insert(format!("{key}{i}.$"), json!(path));
                }
                2 | 3 => {
                    m.insert(format!("f{i}.$"), json!(self.intrinsic()));
                }
                _ => {
                    m.insert(format!("nest{i}"), self.parameters(depth - 1));
                }
            }
        }
        Value::Object(m)
    }

    fn path(&mut self) -> &'static str {
        self.r.pick(&[
            "$.s",
            "$.n",
            "$.o",
            "$.o.k",
            "$.o.inner.y",
            "$.a",
            "$.a[0]",
            "$.items[0].name",
            "$.items[*].id",
            "$.items[*].n",
            "$.a[1:3]",
            "$.a[-1:]",
            "$['o']['x']",
            "$.items.length()",
            "$..x",
            "$.z",
            "$.t",
            "$",
            "$$.State.Name",
        ])
    }

    fn intrinsic(&mut self) -> &'static str {
        self.r.pick(&[
            "States.Format('s={} n={} b={}', $.s, $.n, $.b)",
            "States.Format('{}', $.o)",
            "States.Format('{} and {}', $.a, $.z)",
            "States.Format('esc \\{\\} \\' {}', $.s)",
            "States.StringToJson($.js)",
            "States.JsonToString($.o)",
            "States.JsonToString($.items)",
            "States.Array($.s, $.n, 'lit', 3, true, null)",
            "States.Array()",
            "States.ArrayPartition($.a, 2)",
            "States.ArrayPartition(States.ArrayRange(1, 7, 1), 3)",
            "States.ArrayContains($.a, $.n)",
            "States.ArrayContains($.items, $.o)",
            "States.ArrayRange(1, 9, 2)",
            "States.ArrayRange(5, 1, -2)",
            "States.ArrayGetItem($.a, 0)",
            "States.ArrayGetItem(States.Array(1, 2, 3), 2)",
            "States.ArrayLength($.a)",
            "States.ArrayLength($.items)",
            "States.ArrayUnique($.a)",
            "States.Base64Encode($.s)",
            "States.Base64Decode('aGVsbG8gd29ybGQ=')",
            "States.Base64Decode(States.Base64Encode($.s))",
            "States.Hash($.s, 'SHA-256')",
            "States.Hash($.s, 'MD5')",
            "States.Hash($.s, 'SHA-1')",
            "States.Hash($.s, 'SHA-512')",
            "States.JsonMerge($.o, $.o2, false)",
            "States.MathAdd($.n, 1)",
            "States.MathAdd(States.ArrayLength($.a), -4)",
            "States.StringSplit($.csv, ',')",
            "States.StringSplit('a-b+c', '-+')",
            "States.ArrayLength(States.StringSplit($.csv, ','))",
        ])
    }

    fn choice(&mut self, states: &mut Map<String, Value>, name: &str, next: &str, slot: &str) {
        let n = 1 + self.r.below(3);
        let mut choices = Vec::new();
        for i in 0..n {
            let target = self.name("Took");
            states.insert(
                target.clone(),
                json!({"Type": "Pass", "Result": format!("choice {i}"), "ResultPath": slot, "Next": next}),
            );
            let mut rule = self.rule(2);
            rule.as_object_mut()
                .expect("rules are objects")
                .insert("Next".into(), json!(target));
            choices.push(rule);
        }
        let mut s = json!({"Type": "Choice", "Choices": choices});
        if self.r.chance(85) {
            let target = self.name("Default");
            states.insert(
                target.clone(),
                json!({"Type": "Pass", "Result": "default", "ResultPath": slot, "Next": next}),
            );
            s["Default"] = json!(target);
        }
        if self.r.chance(20) {
            s["OutputPath"] = json!("$");
        }
        states.insert(name.into(), s);
    }

    /// A boolean rule, nested at most `depth` deep.
    fn rule(&mut self, depth: usize) -> Value {
        if depth > 0 && self.r.chance(30) {
            return match self.r.below(3) {
                0 => {
                    json!({"And": (0..2 + self.r.below(2)).map(|_| self.rule(depth - 1)).collect::<Vec<_>>()})
                }
                1 => {
                    json!({"Or": (0..2 + self.r.below(2)).map(|_| self.rule(depth - 1)).collect::<Vec<_>>()})
                }
                _ => json!({"Not": self.rule(depth - 1)}),
            };
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Value {
        let r = &mut *self.r;
        let as_path = r.chance(35);
        let (family, op) = r.pick(&[
            ("string", "StringEquals"),
            ("string", "StringLessThan"),
            ("string", "StringGreaterThan"),
            ("string", "StringLessThanEquals"),
            ("string", "StringGreaterThanEquals"),
            ("match", "StringMatches"),
            ("numeric", "NumericEquals"),
            ("numeric", "NumericLessThan"),
            ("numeric", "NumericGreaterThan"),
            ("numeric", "NumericLessThanEquals"),
            ("numeric", "NumericGreaterThanEquals"),
            ("boolean", "BooleanEquals"),
            ("timestamp", "TimestampEquals"),
            ("timestamp", "TimestampLessThan"),
            ("timestamp", "TimestampGreaterThan"),
            ("timestamp", "TimestampLessThanEquals"),
            ("timestamp", "TimestampGreaterThanEquals"),
            ("type", "IsNull"),
            ("type", "IsNumeric"),
            ("type", "IsString"),
            ("type", "IsBoolean"),
            ("type", "IsTimestamp"),
            ("present", "IsPresent"),
        ]);
        // Variables are mostly of the operator's type, sometimes of another (a comparison
        // across types is false, not an error).
        let (vars, lits, paths): (&[&str], Value, &[&str]) = match family {
            "string" | "match" => (
                &["$.s", "$.s", "$.s2", "$.o.k", "$.t", "$.n"],
                if family == "match" {
                    json!(r.pick(PATTERNS))
                } else {
                    string(r)
                },
                // AWS has no StringMatchesPath.
                if family == "match" {
                    &[]
                } else {
                    &["$.s2", "$.o.k", "$.s", "$.n"]
                },
            ),
            "numeric" => (
                &[
                    "$.n",
                    "$.n",
                    "$.n2",
                    "$.o.x",
                    "$.o2.x",
                    "$.s",
                    "$.items[0].n",
                ],
                number(r),
                // Not `$.b`: moto takes booleans for numbers (see moto-deviations.md).
                &["$.n2", "$.o.x", "$.n"],
            ),
            "boolean" => (
                &["$.b", "$.b2", "$.o.inner.y", "$.s"],
                json!(r.chance(50)),
                &["$.b2", "$.o.inner.y", "$.s"],
            ),
            "timestamp" => (
                &["$.t", "$.t2", "$.s", "$.t"],
                timestamp(r, self.exotic),
                &["$.t2", "$.t", "$.n"],
            ),
            "type" => (
                &["$.v", "$.z", "$.s", "$.n", "$.t", "$.o", "$.a", "$.b"],
                json!(r.chance(60)),
                &[],
            ),
            _ => (
                &["$.v", "$.o.missing", "$.s", "$.items[0]"],
                json!(r.chance(60)),
                &[],
            ),
        };
        // The first variable is of the operator's type; the others only now and then.
        let var = if r.chance(75) { vars[0] } else { r.pick(vars) };
        let cmp = if as_path && !paths.is_empty() {
            let other = if r.chance(80) {
                paths[0]
            } else {
                r.pick(paths)
            };
            json!({"Variable": var, format!("{op}Path"): other})
        } else {
            json!({"Variable": var, op: lits})
        };
        // `$.v` may be absent, which is a runtime error outside IsPresent: guard it mostly.
        if var == "$.v" && op != "IsPresent" && r.chance(70) {
            return json!({"And": [{"Variable": "$.v", "IsPresent": true}, cmp]});
        }
        cmp
    }

    /// `$.rN.v` counts from 0 to a bound (0..=2) through MathAdd and a Choice that loops back.
    fn counted_loop(
        &mut self,
        states: &mut Map<String, Value>,
        name: &str,
        next: &str,
        slot: &str,
    ) {
        let body = self.name("LoopBody");
        let test = self.name("LoopTest");
        let bound = self.r.below(3);
        states.insert(
            name.into(),
            json!({"Type": "Pass", "Result": {"v": 0}, "ResultPath": slot, "Next": test}),
        );
        states.insert(
            test.clone(),
            json!({"Type": "Choice", "Choices": [
                {"Variable": format!("{slot}.v"), "NumericLessThan": bound, "Next": body}],
                "Default": next}),
        );
        states.insert(
            body,
            json!({"Type": "Pass",
                   "Parameters": {"v.$": format!("States.MathAdd({slot}.v, 1)")},
                   "ResultPath": slot, "Next": test}),
        );
    }

    fn parallel(&mut self, slot: &str, next: &str, depth: usize) -> Value {
        let n = 1 + self.r.below(3);
        let branches: Vec<Value> = (0..n)
            .map(|_| {
                let steps = 1 + self.r.below(2);
                self.machine(depth - 1, steps, false)
            })
            .collect();
        let mut s =
            json!({"Type": "Parallel", "Branches": branches, "ResultPath": slot, "Next": next});
        if self.r.chance(30) {
            s["ResultSelector"] = json!({"first.$": "$[0]", "count.$": "States.ArrayLength($)"});
        }
        s
    }

    fn map(&mut self, slot: &str, next: &str, depth: usize) -> Value {
        let steps = 1 + self.r.below(2);
        let body = self.machine(depth - 1, steps, false);
        let mut selector = Map::new();
        for f in FIELDS {
            if *f != "v" {
                selector.insert(format!("{f}.$"), json!(format!("$.{f}")));
            }
        }
        selector.insert("item.$".into(), json!("$$.Map.Item.Value"));
        selector.insert("idx.$".into(), json!("$$.Map.Item.Index"));
        let items = if self.r.chance(5) {
            "$.o"
        } else {
            self.r.pick(&["$.items", "$.a"])
        };
        let mut s = json!({"Type": "Map", "ItemsPath": items, "ResultPath": slot, "Next": next});
        if self.r.chance(70) {
            let mut processor = body;
            processor["ProcessorConfig"] = json!({"Mode": "INLINE"});
            s["ItemProcessor"] = processor;
            s["ItemSelector"] = Value::Object(selector);
        } else {
            s["Iterator"] = body;
            s["Parameters"] = Value::Object(selector);
        }
        if self.r.chance(40) {
            s["MaxConcurrency"] = json!(self.r.below(3));
        }
        s
    }
}
