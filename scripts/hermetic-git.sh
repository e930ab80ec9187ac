# Sourced by the fixture scripts: git that depends on nothing of the caller's
# (configuration, locale, umask), with a fixed author, committer and date, so
# that two runs make the same commit ids.
#   hermetic_git <name> <email> <date>
hermetic_git () {
  tmp_home="$(mktemp -d)"
  trap 'rm -rf -- "$tmp_home"' EXIT
  export HOME="$tmp_home" XDG_CONFIG_HOME="$tmp_home/.config"
  export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
  unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT || true
  export LC_ALL=C.UTF-8 TZ=UTC
  umask 022
  export GIT_AUTHOR_NAME="$1 Author" GIT_AUTHOR_EMAIL="$2"
  export GIT_COMMITTER_NAME="$1 Committer" GIT_COMMITTER_EMAIL="$2"
  export GIT_AUTHOR_DATE="$3" GIT_COMMITTER_DATE="$3"
}
