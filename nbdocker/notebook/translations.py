"""The notebook's words in the reader's language: English (``en``) and Chinese (``zh``).

Every label and message the magics and widgets show goes through :func:`tr` with its English
text, which is also the key of its translation (so the English text is never missing and a
missing translation falls back to English). The language is what ``%nbdocker lang CODE`` set,
else the locale's (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``zh_CN.UTF-8`` → zh),
else English.

What is translated: the widgets' and static outputs' labels, column headers, states, summaries,
Docker's status words for layers, ages ("3 minutes ago"), the engine's cache-miss reasons, and
the notebook's own messages. What is not: the engine's error messages (one line each, shared
with the CLI, and the words a search engine knows), the verbs' ``--help`` (argparse's, the
CLI's), and what a container prints.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "LANGUAGES",
    "N_",
    "language",
    "locale_language",
    "set_language",
    "tr",
    "tr_age",
    "tr_reason",
    "tr_status",
]

LANGUAGES = ("en", "zh")

_ZH: dict[str, str] = {
    # step and build states
    "queued": "排队",
    "running": "运行中",
    "cached": "缓存",
    "done": "完成",
    "failed": "失败",
    "interrupted": "已中断",
    "finished": "完成",
    # table headers
    "isolation: {level}": "隔离级别：{level}",
    "Isolation: {explanation}": "隔离级别：{explanation}",
    "STEP": "步骤",
    "STATE": "状态",
    "INSTRUCTION": "指令",
    "TIME": "耗时",
    "LAYER": "层",
    "REPOSITORY": "仓库",
    "TAG": "标签",
    "IMAGE ID": "镜像 ID",
    "CREATED": "创建时间",
    "SIZE": "大小",
    "STATUS": "状态",
    "BYTES": "字节",
    "IMAGE": "镜像",
    "CREATED BY": "创建指令",
    "COMMENT": "说明",
    "FILES +ADDED ~CHANGED -REMOVED": "文件 +新增 ~修改 -删除",
    "SOURCE": "来源",
    # builds
    "Building… {done}/{total} steps, {elapsed}": "构建中… {done}/{total} 步，{elapsed}",
    "Successfully built {image} ({names}) in {elapsed}": (
        "构建成功 {image}（{names}），用时 {elapsed}"
    ),
    "untagged": "无标签",
    "Build failed at step {step}/{total}: {instruction}": (
        "构建失败，第 {step}/{total} 步：{instruction}"
    ),
    "Build interrupted at step {step}/{total}: {instruction}": (
        "构建已中断，第 {step}/{total} 步：{instruction}"
    ),
    "Build failed": "构建失败",
    "Build interrupted": "构建已中断",
    "cache miss: {reason}": "未命中缓存：{reason}",
    "Full log ({count} lines)": "完整日志（{count} 行）",
    "Last lines of step {step}:": "第 {step} 步的最后几行输出：",
    "Step {step}/{total} : {instruction}": "第 {step}/{total} 步：{instruction}",
    " ---> Using cache": " ---> 使用缓存",
    " ---> Cache miss: {reason}": " ---> 未命中缓存：{reason}",
    "(first {kept} lines kept)": "（只保留前 {kept} 行）",
    # the builder's cache-miss reasons (see nbdocker.engine.builder.cache)
    "first build": "首次构建",
    "--no-cache": "--no-cache（不使用缓存）",
    "step {step} before it was rebuilt": "前面的第 {step} 步已重新构建",
    "the instruction changed (it was: {before})": "指令已修改（原为：{before}）",
    "build arg {name} changed ({before} → {after})": "构建参数 {name} 已修改（{before} → {after}）",
    "file {path} changed": "文件 {path} 已修改",
    "file {path} was added": "新增了文件 {path}",
    "file {path} was removed": "删除了文件 {path}",
    "the files it copies changed": "复制的文件有变化",
    "its earlier result is no longer in the store": "之前的结果已不在存储中",
    "the image it builds on changed since the last build of this Dockerfile": (
        "自这个 Dockerfile 上次构建以来，它所基于的镜像已改变"
    ),
    # pulls, pushes, imports
    "pull {reference}": "拉取 {reference}",
    "push {reference}": "推送 {reference}",
    "import {reference}": "导入 {reference}",
    "Waiting": "等待中",
    "Downloading": "下载中",
    "Pushing": "推送中",
    "Reading": "读取中",
    "Pull complete": "拉取完成",
    "Already exists": "已存在",
    "Pushed": "已推送",
    "Layer already exists": "层已存在",
    "Mounted from {repository}": "从 {repository} 挂载",
    "pushed {count} tags": "已推送 {count} 个标签",
    "pushed 1 tag": "已推送 1 个标签",
    "imported as {image}": "已导入为 {image}",
    "pulled {image}": "已拉取 {image}",
    # images, history, layers
    "Image": "镜像",
    "{count} layers": "{count} 层",
    "1 layer": "1 层",
    "created {age}": "创建于 {age}",
    "Filter": "筛选",
    "Sort by": "排序",
    "descending": "降序",
    "ascending": "升序",
    "repository filter, e.g. ouruser/*": "按仓库筛选，例如 ouruser/*",
    "{count} layers, {size}": "{count} 层，{size}",
    "layer {index}: {created_by}": "第 {index} 层：{created_by}",
    "added ({count})": "新增（{count}）",
    "changed ({count})": "修改（{count}）",
    "removed ({count})": "删除（{count}）",
    "no files": "没有文件",
    "… and {count} more": "……还有 {count} 个",
    # the magics' own messages
    "Error: {message}": "错误：{message}",
    "build interrupted at step {step} ({instruction}): its container was killed, nothing was "
    "tagged, and the steps already done stay cached": (
        "构建在第 {step} 步（{instruction}）"
        "被中断：容器已终止，没有打标签，已完成的步骤保留在缓存中"
    ),
    "build interrupted: nothing was tagged, and the steps already done stay cached": (
        "构建被中断：没有打标签，已完成的步骤保留在缓存中"
    ),
    "interrupted: the command in container {container} was stopped (its files stay; "
    "%docker rm it or run the cell again)": (
        "已中断：容器 {container} 中的命令已停止（文件"
        "保留；可以 %docker rm 删除它，或再次运行单元格）"
    ),
    "A notebook cell has no terminal, so `docker run {flags}` cannot give you a shell here; "
    "nothing was run or created.": (
        "笔记本单元格没有终端，所以这里无法用 `docker run "
        "{flags}` 得到交互式 shell；什么也没有运行或创建。"
    ),
    "The shell opens in a JupyterLab terminal tab: {command}": (
        "shell 在 JupyterLab 的终端标签页中打开：{command}"
    ),
    "The container's input and output open in a JupyterLab terminal tab, with no TTY (-i "
    "without -t: no prompt or job control; add -t for a shell): {command}": (
        "容器的输入和输出在 JupyterLab 的终端标签页中打开，没有 TTY（-i 不带 -t：没有提示符和"
        "作业控制；加上 -t 得到 shell）：{command}"
    ),
    "For a shell in {image}, open a terminal (JupyterLab: File → New → Terminal) and run:": (
        "要在 {image} 中得到 shell，请打开一个终端（JupyterLab：文件 → 新建 → 终端）并运行："
    ),
    "Or run the commands as a script in a persistent container with a %%container cell:": (
        "或者用 %%container 单元格在一个持久容器里以脚本方式运行命令："
    ),
    "(a notebook has no terminal: running without -t)": "（笔记本没有终端：不带 -t 运行）",
    "notebook language: {language} (set with %nbdocker lang zh|en|auto)": (
        "笔记本语言：{language}（用 %nbdocker lang zh|en|auto 设置）"
    ),
    # the Debian base (rootfs.py)
    "Making a Debian {suite} root filesystem with mmdebstrap ({variant})": (
        "正在用 mmdebstrap 生成 Debian {suite} 根文件系统（{variant}）"
    ),
    "Debian {suite} root filesystem made in {elapsed}: {path} ({size})": (
        "Debian {suite} 根文件系统已生成，用时 {elapsed}：{path}（{size}）"
    ),
    "mmdebstrap failed after {elapsed}": "mmdebstrap 失败，用时 {elapsed}",
    "{count} packages fetched": "已下载 {count} 个软件包",
    "automatically chosen mode: root": "自动选择模式：root",
    "running apt-get update": "正在运行 apt-get update",
    "downloading packages with apt": "正在用 apt 下载软件包",
    "extracting archives": "正在解压软件包",
    "installing essential packages": "正在安装必需软件包",
    "installing remaining packages inside the chroot": "正在 chroot 中安装其余软件包",
    "cleaning package lists and apt cache": "正在清理软件包列表和 apt 缓存",
    "creating tarball": "正在生成 tar 包",
    "{done}/{total} packages set up": "已安装 {done}/{total} 个软件包",
    # %snapshot
    "note: {name} {version} ({kind}, {url}) is not in the snapshot": (
        "注意：{name} {version}（{kind}，{url}）不在快照中"
    ),
    "note: the image runs Python {image}, the kernel {kernel}; every pinned package supports "
    "{image}": "注意：镜像中是 Python {image}，内核是 {kernel}；所有锁定的包都支持 {image}",
}

# Ages as ``formatting.since`` writes them (Docker's words), matched and rebuilt in Chinese.
_AGE_UNITS = {
    "second": "秒",
    "seconds": "秒",
    "minutes": "分钟",
    "hours": "小时",
    "days": "天",
    "weeks": "周",
    "months": "个月",
    "years": "年",
}
_AGE_WORDS = {
    "Less than a second ago": "不到 1 秒前",
    "About a minute ago": "大约 1 分钟前",
    "About an hour ago": "大约 1 小时前",
    "N/A": "N/A",
}

_chosen: str | None = None  # set by %nbdocker lang; None: the locale decides


def locale_language() -> str:
    """``zh`` when the first locale variable set names Chinese, else ``en``."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            first = value.split(":", 1)[0].lower()
            return "zh" if first.startswith("zh") else "en"
    return "en"


def language() -> str:
    """The language the notebook's outputs are in now."""
    return _chosen or locale_language()


def set_language(code: str | None) -> None:
    """Use ``code`` (``en``, ``zh``, or ``auto``/None for the locale's) from now on."""
    global _chosen
    if code in (None, "auto"):
        _chosen = None
        return
    normal = code.lower().replace("_", "-").split("-", 1)[0]
    if normal not in LANGUAGES:
        from ..engine.errors import UsageError

        raise UsageError(
            f"%nbdocker lang {code}: unknown language; one of {', '.join(LANGUAGES)} or auto"
        )
    _chosen = normal


def N_(text: str) -> str:  # noqa: N802 - gettext's name for it
    """Mark ``text`` as translatable where it is written, for a :func:`tr` call elsewhere (the
    test that every text has its translation finds both)."""
    return text


def tr(text: str, **values: object) -> str:
    """``text`` (English, with ``{name}`` fields) in the current language, fields filled in."""
    template = _ZH.get(text, text) if language() == "zh" else text
    return template.format(**values) if values else template


def tr_age(age: str) -> str:
    """``3 minutes ago`` (``formatting.since``) in the current language."""
    if language() != "zh":
        return age
    if age in _AGE_WORDS:
        return _AGE_WORDS[age]
    m = re.fullmatch(r"(\d+) (\w+) ago", age)
    if m and m.group(2) in _AGE_UNITS:
        return f"{m.group(1)} {_AGE_UNITS[m.group(2)]}前"
    return age


# The cache-miss reasons the builder writes (nbdocker.engine.builder.cache), as patterns.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"step (?P<step>\d+) before it was rebuilt", "step {step} before it was rebuilt"),
        (
            r"the instruction changed \(it was: (?P<before>.*)\)",
            "the instruction changed (it was: {before})",
        ),
        (
            r"build arg (?P<name>\S+) changed \((?P<before>.*) → (?P<after>.*)\)",
            "build arg {name} changed ({before} → {after})",
        ),
        (r"file (?P<path>.+) changed", "file {path} changed"),
        (r"file (?P<path>.+) was added", "file {path} was added"),
        (r"file (?P<path>.+) was removed", "file {path} was removed"),
    )
)


def tr_reason(reason: str) -> str:
    """A cache-miss reason from the builder, in the current language."""
    if language() == "en" or not reason:
        return reason
    if reason in _ZH:
        return tr(reason)
    for pattern, template in _REASONS:
        m = pattern.fullmatch(reason)
        if m:
            return tr(template, **m.groupdict())
    return reason


def tr_status(status: str) -> str:
    """Docker's status word for a layer (``Pushed``, ``Mounted from ouruser/x``, …)."""
    if status.startswith("Mounted from "):
        return tr("Mounted from {repository}", repository=status[len("Mounted from ") :])
    return tr(status)
