//! Rule evaluation benchmark: one trigger instance matched against 1,000
//! StackStorm-style rules indexed by trigger type, on one core. Run with
//! `cargo bench -p squall --bench rules`; divan prints the time per instance
//! (and instances/s), then a plain timing loop prints the throughput again.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

use divan::Bencher;
use divan::counter::ItemsCount;
use serde_json::{Map, Value, json};
use squall::rules::{Decision, MatchContext, Rule, RuleIndex};

/// Rules in the index.
const RULES: usize = 1_000;
/// Webhook routes (`trigger.parameters.url`), ten rules each.
const WEBHOOK_URLS: usize = 20;
const RULES_PER_URL: usize = 10;
/// Pack trigger types sharing the other 800 rules (eight or nine each);
/// with the webhook that makes 100 trigger types.
const PACK_TYPES: usize = 99;
/// Distinct trigger instances generated.
const INSTANCES: usize = 256;
/// The instances the main benchmark cycles through: few enough that their
/// payloads stay in the CPU cache, as a just-parsed instance's payload would
/// be. The other benchmark cycles through all of them, payloads out of cache.
const WARM: usize = 64;

const PACKS: [&str; 11] = [
    "github",
    "gitlab",
    "jira",
    "pagerduty",
    "sensu",
    "nagios",
    "aws",
    "kubernetes",
    "slack",
    "jenkins",
    "datadog",
];
const EVENTS: [&str; 9] = [
    "push",
    "pull_request",
    "issue",
    "alert",
    "deploy",
    "incident",
    "build",
    "message",
    "resolved",
];

fn main() {
    // Built (and described) before divan prints its table.
    fixture();
    divan::main();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then divan's single pass above is all that runs.
    if std::env::args().any(|arg| arg == "--bench") {
        throughput();
    }
}

/// A small deterministic generator (xorshift), so every run sees the same
/// rules and instances.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One of `choices`, drawn with `dice`.
fn pick(dice: &mut Dice, choices: &[&'static str]) -> &'static str {
    choices[dice.below(choices.len())]
}

/// The first one to all of `choices`.
fn labels(dice: &mut Dice, choices: &[&'static str]) -> Vec<&'static str> {
    choices[..1 + dice.below(choices.len())].to_vec()
}

fn webhook_url(u: usize) -> String {
    const NAMED: [&str; 7] =
        ["alertmanager", "github", "gitlab", "jenkins", "grafana", "sentry", "statuspage"];
    match NAMED.get(u) {
        Some(name) => format!("hooks/{name}"),
        None => format!("hooks/deploy-{u}"),
    }
}

fn pack_type(t: usize) -> String {
    format!("{}.{}", PACKS[t % PACKS.len()], EVENTS[t / PACKS.len()])
}

/// The action part of rule `i`: every fifth rule renders parameters from
/// the payload, the others pass literals or nothing.
fn action(i: usize, webhook: bool) -> String {
    let (subject, severity) = if webhook {
        (
            "{{ trigger.body.alertname }} on {{ trigger.body.service }}",
            "{{ trigger.body.severity }}",
        )
    } else {
        ("{{ trigger.repository }}: {{ trigger.message }}", "{{ trigger.severity }}")
    };
    match i % 5 {
        0 => format!(
            "action:\n  ref: chatops.post\n  parameters:\n    message: \"{subject}\"\n    severity: \"{severity}\"\n    channel: \"#ops\"\n"
        ),
        1 | 2 => {
            "action:\n  ref: chatops.post\n  parameters:\n    channel: \"#ops\"\n    notify: true\n"
                .to_owned()
        }
        _ => "action:\n  ref: core.noop\n".to_owned(),
    }
}

/// Criteria for the `k`th rule of webhook route `u`: 1 to 3 criteria on
/// `trigger.body` and `trigger.headers`.
fn webhook_criteria(u: usize, k: usize) -> String {
    match k % 5 {
        0 => "  trigger.body.status: {type: equals, pattern: firing}\n  trigger.body.severity: {type: greaterthan, pattern: 2}\n".to_owned(),
        1 => "  trigger.body.alertname: {type: regex, pattern: '^(Disk|Memory|CPU)[A-Z]'}\n  trigger.body.env: {type: equals, pattern: prod}\n".to_owned(),
        2 => format!("  trigger.body.service: {{type: equals, pattern: svc-{}}}\n", (u + k) % 12),
        3 => "  trigger.body.summary: {type: contains, pattern: timeout}\n  trigger.body.labels: {type: contains, pattern: db}\n  trigger.body.env: {type: nequals, pattern: dev}\n".to_owned(),
        _ => "  trigger.headers.X-Event: {type: iequals, pattern: push}\n  trigger.body.severity: {type: greaterthan, pattern: '{{ trigger.body.threshold }}'}\n".to_owned(),
    }
}

/// Criteria for pack rule `i`: 1 to 3 criteria with a mix of operators,
/// including Jinja patterns that read the payload.
fn pack_criteria(i: usize) -> String {
    match i % 8 {
        0 => format!(
            "  trigger.repository: {{type: equals, pattern: org/repo-{}}}\n  trigger.commits: {{type: greaterthan, pattern: 2}}\n",
            i % 16
        ),
        1 => format!("  trigger.message: {{type: contains, pattern: service-{}}}\n", i % 24),
        2 => "  trigger.message: {type: regex, pattern: '^deploy: service-\\d+ to (prod|staging)$'}\n  trigger.branch: {type: equals, pattern: main}\n  trigger.author.login: {type: startswith, pattern: a}\n".to_owned(),
        3 => "  trigger.severity: {type: greaterthan, pattern: '{{ trigger.threshold }}'}\n  trigger.labels: {type: contains, pattern: prod}\n".to_owned(),
        4 => "  trigger.host: {type: matchwildcard, pattern: 'web-*.example.com'}\n  trigger.severity: {type: gt, pattern: 3}\n".to_owned(),
        5 => "  trigger.author.login: {type: inside, pattern: [alice, bob, carol]}\n  trigger.branch: {type: nequals, pattern: wip}\n".to_owned(),
        6 => "  trigger.repository: {type: equals, pattern: 'org/{{ trigger.team }}-service'}\n".to_owned(),
        _ => format!(
            "  trigger.author.email: {{type: endswith, pattern: '@example.com'}}\n  trigger.commits: {{type: lessthan, pattern: {}}}\n",
            i % 10
        ),
    }
}

/// 1,000 enabled rules: 200 on the webhook (20 routes of 10, half of them
/// written with StackStorm's `core.st2.webhook`), 800 over 99 pack types.
fn rules() -> Vec<Rule> {
    let mut rules = Vec::with_capacity(RULES);
    for u in 0..WEBHOOK_URLS {
        for k in 0..RULES_PER_URL {
            let i = rules.len();
            let trigger = if i % 2 == 0 { "core.st2.webhook" } else { "core.webhook" };
            let yaml = format!(
                "name: hook_{u}_{k}\npack: ops\nenabled: true\ndescription: webhook rule {i}\ntrigger:\n  type: {trigger}\n  parameters:\n    url: {}\ncriteria:\n{}{}",
                webhook_url(u),
                webhook_criteria(u, k),
                action(i, true),
            );
            rules
                .push(Rule::from_yaml(&yaml, &format!("hook_{u}_{k}.yaml")).expect("webhook rule"));
        }
    }
    for p in 0..RULES - WEBHOOK_URLS * RULES_PER_URL {
        let i = rules.len();
        let yaml = format!(
            "name: rule_{p}\npack: ops\nenabled: true\ntrigger:\n  type: {}\ncriteria:\n{}{}",
            pack_type(p % PACK_TYPES),
            pack_criteria(p),
            action(i, false),
        );
        rules.push(Rule::from_yaml(&yaml, &format!("rule_{p}.yaml")).expect("pack rule"));
    }
    rules
}

/// One trigger instance: its type, its trigger parameters (webhooks only)
/// and its payload.
struct Instance {
    trigger: String,
    parameters: Option<Map<String, Value>>,
    payload: Value,
}

/// A quarter webhooks (one in ten of those to a route no rule listens on),
/// the rest pack events, one in twenty of a type no rule listens to.
fn instances() -> Vec<Instance> {
    let mut dice = Dice(0x5eed_cafe_f00d_d00d);
    (0..INSTANCES)
        .map(|n| {
            if n % 4 == 0 {
                let url = if dice.below(10) == 0 {
                    "hooks/unknown".to_owned()
                } else {
                    webhook_url(dice.below(WEBHOOK_URLS))
                };
                let alert = pick(&mut dice, &["DiskFull", "MemoryHigh", "CPUThrottled", "LatencyHigh"]);
                let parameters = json!({"url": url});
                let payload = json!({
                    "headers": {
                        "Content-Type": "application/json",
                        "User-Agent": "Alertmanager/0.27",
                        "X-Event": pick(&mut dice, &["push", "PUSH", "alert"]),
                    },
                    "body": {
                        "status": pick(&mut dice, &["firing", "resolved"]),
                        "alertname": alert,
                        "service": format!("svc-{}", dice.below(12)),
                        "env": pick(&mut dice, &["prod", "staging", "dev"]),
                        "severity": dice.below(6),
                        "threshold": dice.below(5),
                        "labels": labels(&mut dice, &["db", "web", "cache"]),
                        "summary": pick(&mut dice, &["upstream timeout after 30s", "disk at 93%", "ok"]),
                        "startsAt": "2026-11-21T10:00:00Z",
                    },
                });
                Instance {
                    trigger: "core.webhook".to_owned(),
                    parameters: payload_map(parameters),
                    payload,
                }
            } else {
                let trigger = if dice.below(20) == 0 {
                    "heartbeat.tick".to_owned()
                } else {
                    pack_type(dice.below(PACK_TYPES))
                };
                let service = dice.below(30);
                let payload = json!({
                    "repository": format!("org/repo-{}", dice.below(20)),
                    "team": pick(&mut dice, &["payments", "search", "infra"]),
                    "branch": pick(&mut dice, &["main", "main", "release-2.1", "wip"]),
                    "author": {
                        "login": pick(&mut dice, &["alice", "bob", "dave", "erin"]),
                        "email": pick(&mut dice, &["alice@example.com", "bot@ci.internal"]),
                    },
                    "commits": dice.below(8),
                    "severity": dice.below(6),
                    "threshold": 1 + dice.below(4),
                    "message": format!("deploy: service-{service} to {}", pick(&mut dice, &["prod", "staging", "dev"])),
                    "host": pick(&mut dice, &["web-03.example.com", "db-1.example.com"]),
                    "labels": labels(&mut dice, &["prod", "db", "team-a"]),
                    "created_at": "2026-11-21T10:00:00Z",
                });
                Instance { trigger, parameters: None, payload }
            }
        })
        .collect()
}

fn payload_map(value: Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

struct Fixture {
    index: RuleIndex,
    instances: Vec<Instance>,
    context: MatchContext,
}

impl Fixture {
    fn evaluate(&self, instance: &Instance) -> Vec<Decision> {
        match &instance.parameters {
            Some(parameters) => self.index.matches_trigger(
                &instance.trigger,
                parameters,
                &instance.payload,
                &self.context,
            ),
            None => self.index.matches(&instance.trigger, &instance.payload, &self.context),
        }
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let index = RuleIndex::new(rules());
        assert_eq!(index.len(), RULES);
        // No rule reads the datastore; the clock is fixed.
        let now = "2026-11-21T12:00:00Z".parse().expect("a valid instant");
        let context = MatchContext::without_datastore(now);
        let fixture = Fixture { index, instances: instances(), context };
        describe(&fixture);
        fixture
    })
}

/// What the instances ask of the index, so the figure can be read: rules
/// listening to each instance's type, rules matched, parameters rendered.
fn describe(fixture: &Fixture) {
    println!("rules: {} rules over {} trigger types", fixture.index.len(), PACK_TYPES + 1);
    for count in [WARM, INSTANCES] {
        let (mut listening, mut matched, mut rendered, mut failed) = (0, 0, 0, 0);
        for instance in &fixture.instances[..count] {
            listening += fixture.index.rules_for(&instance.trigger).count();
            for decision in fixture.evaluate(instance) {
                matched += 1;
                match decision.parameters {
                    Ok(parameters) if !parameters.is_empty() => rendered += 1,
                    Ok(_) => {}
                    Err(_) => failed += 1,
                }
            }
        }
        let n = count as f64;
        println!(
            "  per instance, mean of the first {count}: {:.1} rules listening, {:.2} matched, {:.2} with parameters rendered, {failed} render failures",
            listening as f64 / n,
            matched as f64 / n,
            rendered as f64 / n,
        );
    }
}

/// One instance evaluated against the index: find the rules of its type,
/// check trigger parameters and criteria, render the parameters of the
/// rules that match. Each sample runs the 64 warm instances once, so the
/// median is of the mean over that mix.
#[divan::bench(sample_count = 500, sample_size = 64)]
fn one_instance(bencher: Bencher<'_, '_>) {
    bench_cycle(bencher, &fixture().instances[..WARM].iter().collect::<Vec<_>>());
}

/// The same over all 256 instances: their payloads no longer stay in the
/// cache, and all 100 trigger types' rules are in play.
#[divan::bench(sample_count = 500, sample_size = 256)]
fn one_instance_of_256(bencher: Bencher<'_, '_>) {
    bench_cycle(bencher, &fixture().instances.iter().collect::<Vec<_>>());
}

/// Only the webhook instances among the 64 (16; 200 rules listening, of
/// which the 10 of the instance's `url` have their criteria checked).
#[divan::bench(sample_count = 500, sample_size = 16)]
fn one_webhook_instance(bencher: Bencher<'_, '_>) {
    let subset: Vec<&Instance> =
        fixture().instances[..WARM].iter().filter(|i| i.parameters.is_some()).collect();
    bench_cycle(bencher, &subset);
}

/// Only the pack-trigger instances among the 64 (48; 8 or 9 rules
/// listening to each type, none to one type in twenty).
#[divan::bench(sample_count = 500, sample_size = 48)]
fn one_pack_instance(bencher: Bencher<'_, '_>) {
    let subset: Vec<&Instance> =
        fixture().instances[..WARM].iter().filter(|i| i.parameters.is_none()).collect();
    bench_cycle(bencher, &subset);
}

/// Evaluates `instances` in turn, one per iteration.
fn bench_cycle(bencher: Bencher<'_, '_>, instances: &[&Instance]) {
    let fixture = fixture();
    let mut next = 0;
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        let instance = instances[next % instances.len()];
        next += 1;
        fixture.evaluate(black_box(instance))
    });
}

/// The throughput on this thread, measured without divan: `ROUNDS` timed
/// passes of `PASS` instances each, the median pass reported, for the 64
/// warm instances and for all 256.
fn throughput() {
    const PASS: usize = 200_000;
    const ROUNDS: usize = 7;
    let fixture = fixture();
    for count in [WARM, INSTANCES] {
        let instances = &fixture.instances[..count];
        let run = |n: usize| {
            let started = Instant::now();
            for i in 0..n {
                black_box(fixture.evaluate(black_box(&instances[i % count])));
            }
            started.elapsed()
        };
        run(PASS / 4);
        let mut passes: Vec<f64> =
            (0..ROUNDS).map(|_| run(PASS).as_secs_f64() * 1e9 / PASS as f64).collect();
        passes.sort_by(f64::total_cmp);
        let median = passes[ROUNDS / 2];
        println!(
            "rules throughput, one thread, {count} instances in turn: median {median:.0} ns per instance over {ROUNDS} passes of {PASS} (fastest {:.0}, slowest {:.0}) = {:.0} instances/s; target 500,000 instances/s",
            passes[0],
            passes[ROUNDS - 1],
            1e9 / median,
        );
    }
}
