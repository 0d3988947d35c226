"""Log grouping as `logs_patterns` does it: the groups Loghub's engineers drew by hand are found
with one configuration, values never split a group, and a different word never merges two."""

from bench.log_grouping import DATA, _file, grouping_accuracy, load, systems
from opsagent.tools.log_templates import LogGrouper


def _groups(messages: list[str]) -> tuple[list[int], LogGrouper]:
    grouper = LogGrouper()
    return [grouper.add(m) for m in messages], grouper


def test_grouping_accuracy_counts_a_message_only_when_its_whole_group_is_exact():
    truth = ["A", "A", "B", "B", "C"]
    assert grouping_accuracy([1, 1, 2, 2, 3], truth) == 1.0
    assert grouping_accuracy([1, 1, 2, 2, 2], truth) == 0.4  # B and C merged: both wrong
    assert grouping_accuracy([1, 4, 2, 2, 3], truth) == 0.6  # A split: both of A wrong


def test_loghub_systems_are_grouped_as_their_ground_truth_with_one_configuration():
    ga = {}
    for name in systems():
        messages, truth = load(_file(DATA, name))
        ga[name] = grouping_accuracy(_groups(messages)[0], truth)
    assert len(ga) == 8
    assert sum(ga.values()) / len(ga) >= 0.90, ga
    assert min(ga.values()) >= 0.80, ga  # no system given up for the mean


def test_values_do_not_split_a_group_and_one_word_keeps_two_apart():
    uuid = "b9000564-fe1a-409b-b8cc-1e88b294cd1d"
    groups, grouper = _groups([
        f"[instance: {uuid}] VM Paused (Lifecycle Event)",
        f"[instance: {uuid.replace('b9', 'c7')}] VM Resumed (Lifecycle Event)",
        f"[instance: {uuid}] Took 1.03 seconds to destroy the instance on the hypervisor.",
        "[instance: 96abccce-8d1f-4e07-b6d1-4b2ab87e23b4] Took 19.05 seconds to destroy the "
        "instance on the hypervisor.",
        "connection from 24.54.76.216 (24-54-76-216.bflony.adelphia.net) at Fri Jun 17 07:07:00 2005",
        "connection from 222.33.90.199 () at Mon Jun 20 03:40:59 2005",
        "connection from 83.227.69.186 (massive.merukuru.org) at Sat Jun 18 02:08:10 2005",
        "Starting TrustedInstaller initialization.",
        "Starting TrustedInstaller finalization.",
    ])
    assert groups[0] != groups[1]
    assert groups[2] == groups[3]
    assert groups[4] == groups[5] == groups[6]
    assert groups[7] != groups[8]
    templates = {t for _, _, t in grouper.templates()}
    assert "[instance: <*>] Took <*> seconds to destroy the instance on the hypervisor." in templates
    assert "connection from <*> <*> at <*>" in templates


def test_structured_lines_keep_their_keys_and_values_only_templates_stay_apart():
    lines = [f'{{"level":"info","ts":"2026-12-02T17:36:{s:02d}.830Z","caller":"server/http.go:52",'
             f'"msg":"request completed","status":200,"duration_ms":{s}.5}}' for s in range(5)]
    groups, grouper = _groups([*lines, "cancelNotification,index:0", "suspendAutohide",
                               "cancelAutohide", "1a2b3c"])
    assert len(set(groups[:5])) == 1
    template = next(t for i, _, t in grouper.templates() if i == groups[0])
    assert template == ('{"level":"info","ts":"<*>","caller":"server/http.go:<*>",'
                        '"msg":"request completed","status":<*>,"duration_ms":<*>}')
    assert len(set(groups[5:])) == 4  # a template of values takes no word
