"""The chat template opsagent trains and serves with: Hermes-style tool calling (tools listed in
`<tools>`, calls as `<tool_call>{"name": ..., "arguments": ...}</tool_call>`, results in
`<tool_response>`), with `{% generation %}` around what the assistant writes, so TRL can train
on the assistant's tokens only. vLLM's `hermes` tool-call parser reads the same calls back.
Tool-call arguments may be a JSON string (as recorded) or an object. Calls follow the thought
after one newline and each other with none, exactly the shape vLLM's hermes grammar (guided
decoding) accepts, so a model trained here needs no other habits under guided decoding; a tool
is listed by name, description and parameters only (a request's `strict` flag, which turns on
guided arguments, must not change the prompt). The template is one
string without incidental whitespace; a newline right after a tag is written as {{ '\\n' }}
because Hugging Face renders templates with trim_blocks."""

TOOLS_PREAMBLE = ("You may call one or more functions to assist with the user query. The functions are "
                  "listed in <tools></tools>. For each call, write a JSON object with the function name and "
                  "arguments inside <tool_call></tool_call> tags.")

CHAT_TEMPLATE = (
    "{% set ns = namespace(system='') %}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set ns.system = messages[0]['content'] %}{% endif %}"
    "{% if tools %}"
    "<|im_start|>system\n{{ ns.system }}\n\n" + TOOLS_PREAMBLE + "\n<tools>"
    "{% for tool in tools %}{{ '\\n' }}{% set f = tool['function'] %}"
    "{{ {'type': 'function', 'function': {'name': f['name'], 'description': f['description'], "
    "'parameters': f['parameters']}} | tojson }}{% endfor %}{{ '\\n' }}</tools><|im_end|>\n"
    "{% elif ns.system %}<|im_start|>system\n{{ ns.system }}<|im_end|>\n{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|im_start|>user\n{{ message['content'] }}<|im_end|>\n"
    "{% elif message['role'] == 'assistant' %}<|im_start|>assistant\n"
    "{% generation %}{{ message['content'] or '' }}"
    "{% if message['content'] and message.get('tool_calls') %}{{ '\\n' }}{% endif %}"
    "{% for call in message.get('tool_calls') or [] %}"
    "{% set args = call['function']['arguments'] %}"
    "<tool_call>\n{\"name\": \"{{ call['function']['name'] }}\", \"arguments\": "
    "{{ args if args is string else (args | tojson) }}}\n</tool_call>"
    "{% endfor %}<|im_end|>\n{% endgeneration %}"
    "{% elif message['role'] == 'tool' %}<|im_start|>user\n<tool_response>\n{{ message['content'] }}\n"
    "</tool_response><|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Gemma turns: no system role (the system text opens the first user turn), the assistant is
# `model`; the same Hermes tool blocks, and the same generation markers.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='', first=true) %}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set ns.system = messages[0]['content'] %}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] in ('user', 'tool') %}<start_of_turn>user\n"
    "{% if ns.first %}{% set ns.first = false %}"
    "{% if ns.system %}{{ ns.system }}{{ '\\n\\n' }}{% endif %}"
    "{% if tools %}" + TOOLS_PREAMBLE + "\n<tools>"
    "{% for tool in tools %}{{ '\\n' }}{% set f = tool['function'] %}"
    "{{ {'type': 'function', 'function': {'name': f['name'], 'description': f['description'], "
    "'parameters': f['parameters']}} | tojson }}{% endfor %}"
    "{{ '\\n' }}</tools>\n\n{% endif %}{% endif %}"
    "{% if message['role'] == 'tool' %}<tool_response>\n{{ message['content'] }}\n</tool_response>"
    "{% else %}{{ message['content'] }}{% endif %}<end_of_turn>\n"
    "{% elif message['role'] == 'assistant' %}<start_of_turn>model\n"
    "{% generation %}{{ message['content'] or '' }}"
    "{% if message['content'] and message.get('tool_calls') %}{{ '\\n' }}{% endif %}"
    "{% for call in message.get('tool_calls') or [] %}"
    "{% set args = call['function']['arguments'] %}"
    "<tool_call>\n{\"name\": \"{{ call['function']['name'] }}\", \"arguments\": "
    "{{ args if args is string else (args | tojson) }}}\n</tool_call>"
    "{% endfor %}<end_of_turn>\n{% endgeneration %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
# Only the turn markers are special tokens. The tool-call markers are plain text: guided decoding
# (xgrammar) matches text and never emits a special token, and vLLM cannot serve trained rows of
# added tokens in a LoRA adapter (Gemma keeps its own vocabulary for the same reason).
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
