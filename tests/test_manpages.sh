#!/bin/sh
# test_manpages.sh: every program's --help and its man page agree: the options --help lists are
# documented in the page and the page documents no option --help lacks (per anet-viz command),
# the SYNOPSIS shows the usage lines of --help, an option a page cites for a program (an example,
# a quoted message) is one that program has, options are written \- in the roff source, and every
# page renders without groff warnings; --version reads the same way in every program.
. "$ANET_TESTS/lib/shtest.sh"
MAN=man
cd "$ANET_TESTS/.."
PROBLEMS=$T/problems
: >"$PROBLEMS"
problem() { echo "$*" >>"$PROBLEMS"; }
TAB=$(printf '\t')

# opts_in: the options (-x, --long-name) in the text on stdin, one a line, sorted; a dash inside
# a word (anet-viz, top-5, K-1) starts no option
opts_in() {
	grep -oE '(^|[^-A-Za-z0-9])--?[A-Za-z0-9][-A-Za-z0-9]*' | sed 's/^[^-]*//' | LC_ALL=C sort -u
}

# help_opts HELPFILE: the options of the option lines of a --help text ("  -x, --long ARG  what"),
# taken from the fields that open the line, so that options named in descriptions do not count
help_opts() {
	awk '{
		if (!match($0, /^ +-/) || RLENGTH > 9) next
		for (i = 1; i <= NF && substr($i, 1, 1) == "-"; i++) print $i
	}' "$1" | opts_in
}

# usage_text HELPFILE: the usage lines of a --help text (the first line and its indented
# continuations), without "Usage:", on one line with single spaces
usage_text() {
	awk 'NR > 1 && !/^ / { exit } { print }' "$1" | sed '1s/^Usage://' | tr -s ' \n' '  ' |
		sed 's/^ //; s/ $//'
}

# man_lines PAGE: the page's source as "KIND<tab>SECTION<tab>SUBSECTION<tab>TEXT" lines, with
# \- as - and font escapes dropped: KIND "syn" for every line of the SYNOPSIS, "doc" for each
# macro line (.B, .BR, .BI, .RB, .IB; the .TP tags among them) whose first argument is an
# option, outside NAME, SYNOPSIS, EXAMPLES and SEE ALSO: the options the page documents
man_lines() {
	awk '
	{ gsub(/\\-/, "-"); gsub(/\\f[BIRP]/, ""); gsub(/\\&/, ""); gsub(/\\c/, "") }
	/^\.SH/ { sec = $0; sub(/^\.SH[ \t]*/, "", sec); gsub(/"/, "", sec); ss = ""; next }
	/^\.SS/ { ss = $0; sub(/^\.SS[ \t]*/, "", ss); gsub(/"/, "", ss); next }
	sec == "SYNOPSIS" { printf "syn\t%s\t%s\t%s\n", sec, ss, $0; next }
	sec == "NAME" || sec == "EXAMPLES" || sec == "EXAMPLE" || sec == "SEE ALSO" { next }
	/^\.(B|BR|BI|RB|IB)[ \t]/ {
		arg = $0
		sub(/^\.[A-Z]+[ \t]+/, "", arg)
		sub(/^[ \t"(\[]+/, "", arg)
		if (substr(arg, 1, 1) == "-")
			printf "doc\t%s\t%s\t%s\n", sec, ss, $0
	}' "$1"
}

# man_opts PAGE KIND [AWK-CONDITION on sec and ss]: the options of the chosen man_lines
man_opts() {
	man_lines "$1" | awk -F '\t' -v kind="$2" '{ sec = $2; ss = $3 } $1 == kind && ('"${3:-1}"') { print $4 }' | opts_in
}

# compare NAME HELP-OPTS MAN-OPTS PAGE WHAT: each side lacks none of the other's options
compare() {
	LC_ALL=C comm -23 "$2" "$3" | while read -r o; do
		problem "$1: $o is in --help but not in $5 of $4"
	done
	LC_ALL=C comm -13 "$2" "$3" | while read -r o; do
		problem "$1: $o is in $5 of $4 but not in --help"
	done
}

# cited PAGE...: "PROG<tab>OPTION" (PROG as anet-viz.COMMAND for a command) for each option a
# page cites for one of anet's programs: after the program's name, on the same line (a command
# continued with \e is one line), up to a |, #, ; or )
cited() {
	sed 's/\\-/-/g; s/\\f[BIRP]//g; s/\\&//g; s/\\c//g' "$@" |
		awk '/\\e$/ { sub(/\\e$/, ""); line = line $0 " "; next } { print line $0; line = "" }' |
		grep -oE '(^|[^-A-Za-z0-9/.])(imgprep|mkdb|pcacolor|anet-train|anet-eval|anet-viz|anet-convert)( [^|#;)]*)?' |
		awk '{
			sub(/^[^a-z]*/, "")
			prog = $1
			if (prog == "anet-viz" && $2 ~ /^[a-z]+$/) prog = prog "." $2
			for (i = 2; i <= NF; i++)
				if ($i ~ /^--?[A-Za-z]/) { o = $i; sub(/[^-A-Za-z0-9].*$/, "", o); print prog "\t" o }
		}' | LC_ALL=C sort -u
}

# check_synopsis NAME HELPFILE PAGE: the SYNOPSIS names the options of the usage lines and, where
# groff can render it, reads as they do
check_synopsis() {
	awk 'NR > 1 && !/^ / { exit } { print }' "$2" | opts_in >"$T/usage.opts"
	man_opts "$3" syn >"$T/syn.opts"
	compare "$1" "$T/usage.opts" "$T/syn.opts" "$3" "the SYNOPSIS"
	[ "$have_groff" = 1 ] || return 0
	# a long line length, so that no line of the synopsis is broken where --help breaks none
	groff -t -man -Tascii -P-cbou -rLL=250n "$3" 2>/dev/null |
		awk '/^SYNOPSIS/ { on = 1; next } on && /^[^ ]/ { exit } on { print }' |
		tr -s ' \n' '  ' | sed 's/^ //; s/ $//' >"$T/syn.text"
	usage_text "$2" >"$T/usage.text"
	cmp -s "$T/usage.text" "$T/syn.text" ||
		problem "$1: the SYNOPSIS of $3 differs from the usage lines of --help:
    --help:   $(cat "$T/usage.text")
    SYNOPSIS: $(cat "$T/syn.text")"
}

# check_version NAME COMMAND: --version says one line, "NAME (anet) VERSION", as every program does
check_version() {
	$2 --version >"$T/version" 2>&1 || problem "$1 --version failed"
	grep -qxE "$1 \(anet\) [0-9]+(\.[0-9]+)+" "$T/version" && [ "$(wc -l <"$T/version")" -eq 1 ] ||
		problem "$1 --version printed '$(cat "$T/version")', not '$1 (anet) VERSION'"
}

have_groff=0
if command -v groff >/dev/null 2>&1; then
	have_groff=1
	# what man --warnings would print: a page renders without a warning at 80 columns
	for page in "$MAN"/man1/*.1 "$MAN"/man5/*.5; do
		groff -t -man -Tutf8 -ww -z -rLL=80n "$page" >"$T/groff.err" 2>&1 || problem "groff failed on $page"
		[ -s "$T/groff.err" ] && problem "groff warns on $page:
$(sed 's/^/    /' "$T/groff.err")"
	done
else
	echo "note: groff is not installed; the pages' rendering and the SYNOPSIS text are not checked"
fi

missing=""
for p in imgprep mkdb pcacolor anet-train anet-eval anet-convert; do
	[ -x "$ANET_BIN/$p" ] || { missing="$missing $p"; continue; }
	page=$MAN/man1/$p.1
	[ -f "$page" ] || { problem "$p: no man page $page"; continue; }
	"$p" --help >"$T/help" || fail "$p --help failed"
	help_opts "$T/help" >"$T/help.opts"
	[ -s "$T/help.opts" ] || fail "$p: found no options in --help (has its layout changed?)"
	cp "$T/help.opts" "$T/opts.$p"
	man_opts "$page" doc >"$T/man.opts"
	compare "$p" "$T/help.opts" "$T/man.opts" "$page" "the options"
	check_synopsis "$p" "$T/help" "$page"
	check_version "$p" "$p"
done

# anet-viz: each command's --help against its subsection of COMMANDS, with the options common to
# all commands (-o, --help) in OPTIONS; the rest of the page against all the commands' options
if [ -x "$ANET_BIN/anet-viz" ]; then
	page=$MAN/man1/anet-viz.1
	anet-viz --help >"$T/help" || fail "anet-viz --help failed"
	check_version anet-viz anet-viz
	help_opts "$T/help" >"$T/all.opts"
	cp "$T/all.opts" "$T/opts.anet-viz"
	man_opts "$page" doc 'sec != "COMMANDS"' >"$T/man.opts"
	LC_ALL=C comm -23 "$T/all.opts" "$T/man.opts" | while read -r o; do
		problem "anet-viz: $o is in --help but not in the options of $page"
	done
	man_opts "$page" doc 'sec == "OPTIONS"' >"$T/common.opts"
	for c in filters records neighbours predictions curves health mean acts info; do
		grep -q "^\.SS $c\$" "$page" || { problem "anet-viz $c: no subsection .SS $c in $page"; continue; }
		anet-viz $c --help >"$T/help.$c" || fail "anet-viz $c --help failed"
		help_opts "$T/help.$c" >"$T/help.opts"
		[ -s "$T/help.opts" ] || fail "anet-viz $c: found no options in --help"
		cp "$T/help.opts" "$T/opts.anet-viz.$c"
		cat "$T/help.opts" >>"$T/all.opts"
		man_opts "$page" doc 'sec == "COMMANDS" && ss == "'$c'"' >"$T/man.opts"
		LC_ALL=C sort -u "$T/man.opts" "$T/common.opts" >"$T/man+common.opts"
		LC_ALL=C comm -23 "$T/help.opts" "$T/man+common.opts" | while read -r o; do
			problem "anet-viz $c: $o is in --help but not in $page (COMMANDS, $c; or OPTIONS)"
		done
		LC_ALL=C comm -13 "$T/help.opts" "$T/man.opts" | while read -r o; do
			problem "anet-viz $c: $o is in $page (COMMANDS, $c) but not in --help"
		done
	done
	LC_ALL=C sort -u -o "$T/all.opts" "$T/all.opts"
	man_opts "$page" doc 'sec != "COMMANDS"' >"$T/man.opts"
	LC_ALL=C comm -13 "$T/all.opts" "$T/man.opts" | while read -r o; do
		problem "anet-viz: $o is in $page but in no command's --help"
	done
	check_synopsis anet-viz "$T/help" "$page"
else
	missing="$missing anet-viz"
fi

# an option a page cites for a program (examples, quoted messages) is one the program has
for page in "$MAN"/man1/*.1 "$MAN"/man5/*.5; do
	cited "$page" | while IFS=$TAB read -r prog o; do
		[ -f "$T/opts.$prog" ] || continue # not built, or an unknown command (anet-viz COMMAND)
		grep -qxe "$o" "$T/opts.$prog" ||
			problem "$page cites '$(echo "$prog" | tr . ' ') $o', but $o is not in that --help"
	done
done

# options are written \- in the pages: groff renders a plain - as a hyphen (U+2010 in UTF-8 where
# the system does not map it back), which cannot be copied into a shell or searched for as -
grep -nE '(^|[ ("[|])--?[A-Za-z]|\\-\\-[A-Za-z0-9]+(\\-[A-Za-z0-9]+)*-[A-Za-z0-9]' \
	"$MAN"/man1/*.1 "$MAN"/man5/*.5 | grep -v '^[^:]*:[0-9]*:\.\\"' | while IFS= read -r l; do
	rest=${l#*:}
	problem "${l%%:*}:${rest%%:*}: an option written with a plain '-' (write \\-): ${rest#*:}"
done

if [ -s "$PROBLEMS" ]; then
	cat "$PROBLEMS" >&2
	fail "$(grep -c '^[^ ]' "$PROBLEMS") problem(s) above: make --help (tools/*.c) and man/ agree"
fi
[ -z "$missing" ] || skip "checked the built programs; not built:$missing"
echo "ok"
