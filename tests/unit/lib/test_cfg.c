/* lib/cfg: a value the program cannot use stops it at start (exit 2, the
 * variable named in the log), never a silent fallback to another value. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg.h"
#include "test.h"

/* In the child, ends the process with its exit status before the leak check
 * that runs at exit (the child inherits the parent's heap; see test_rpc.c). */
static void cfg_child_exit(int status, void *arg)
{
	(void)arg;
	_exit(status);
}

/* The exit status of a child that sets COMANDA_ENV (unless env is NULL)
 * and name = value, then reads name with read: 0 when the value was taken,
 * 2 when it was refused. */
static int cfg_exit_status(const char *env, const char *name, const char *value, void (*read)(const char *name))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		on_exit(cfg_child_exit, NULL);
		if (env != NULL)
			setenv("COMANDA_ENV", env, 1);
		setenv(name, value, 1);
		read(name);
		_exit(0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void cfg_read_production(const char *name)
{
	(void)name;
	(void)cfg_production();
}

static void cfg_read_admin_secret(const char *name)
{
	(void)cfg_secret(name, "admin-change-me");
}

static void cfg_read_workers(const char *name)
{
	(void)cfg_int(name, 1, 64);
}

/* COMANDA_ENV=value, asked whether this is production. */
static int cfg_env_exit_status(const char *value)
{
	return cfg_exit_status(NULL, "COMANDA_ENV", value, cfg_read_production);
}

TEST(cfg_production_accepts_the_two_documented_values)
{
	CHECK_EQ_INT(cfg_env_exit_status("production"), 0);
	CHECK_EQ_INT(cfg_env_exit_status("development"), 0);
}

/* COMANDA_ENV=prod (or Production, or production with a stray space) used
 * to be taken for development: the program started with the public
 * development JWT key and admin password, a warning its only trace. */
TEST(cfg_production_refuses_an_unknown_comanda_env)
{
	CHECK_EQ_INT(cfg_env_exit_status("prod"), 2);
	CHECK_EQ_INT(cfg_env_exit_status("Production"), 2);
	CHECK_EQ_INT(cfg_env_exit_status("production "), 2);
	CHECK_EQ_INT(cfg_env_exit_status("staging"), 2);
}

/* Secret ADMIN_PASSWORD = value read under COMANDA_ENV = env. */
static int cfg_secret_exit_status(const char *env, const char *value)
{
	return cfg_exit_status(env, "ADMIN_PASSWORD", value, cfg_read_admin_secret);
}

/* RPC_WORKERS = value read as an integer in [1, 64]. */
static int cfg_int_exit_status(const char *value)
{
	return cfg_exit_status(NULL, "RPC_WORKERS", value, cfg_read_workers);
}

/* strtoll took " 5" and "+5" while "5 " was refused: one spelling now. */
TEST(cfg_int_takes_plain_decimal_digits_only)
{
	CHECK_EQ_INT(cfg_int_exit_status("5"), 0);
	CHECK_EQ_INT(cfg_int_exit_status("64"), 0);
	CHECK_EQ_INT(cfg_int_exit_status(" 5"), 2);
	CHECK_EQ_INT(cfg_int_exit_status("+5"), 2);
	CHECK_EQ_INT(cfg_int_exit_status("5 "), 2);
	CHECK_EQ_INT(cfg_int_exit_status("0"), 2);
	CHECK_EQ_INT(cfg_int_exit_status("65"), 2);
	CHECK_EQ_INT(cfg_int_exit_status("-"), 2);
	CHECK_EQ_INT(cfg_int_exit_status("0x10"), 2);
}

TEST(cfg_placeholder_finds_change_me_in_any_case)
{
	CHECK(cfg_placeholder("CHANGE-ME"));
	CHECK(cfg_placeholder("CHANGE-ME-to-32-or-more-random-bytes"));
	CHECK(cfg_placeholder("admin-change-me"));
	CHECK(cfg_placeholder("xChange-Me"));
	CHECK(!cfg_placeholder(""));
	CHECK(!cfg_placeholder("change-m"));
	CHECK(!cfg_placeholder("changeme"));
	CHECK(!cfg_placeholder("5f0c2a9e1b7d4c3a8e6f0b2d9c1a7e4f"));
}

/* deploy/k8s/secret.yaml's placeholders (a 36-byte JWT key, which passed
 * the length rule) and the development admin password ran a production
 * program: secrets anyone could read in the repository. */
TEST(cfg_secret_refuses_a_placeholder_in_production)
{
	CHECK_EQ_INT(cfg_secret_exit_status("production", "CHANGE-ME"), 2);
	CHECK_EQ_INT(cfg_secret_exit_status("production", "CHANGE-ME-to-32-or-more-random-bytes"), 2);
	CHECK_EQ_INT(cfg_secret_exit_status("production", "admin-change-me"), 2);
	CHECK_EQ_INT(cfg_secret_exit_status("production", "a-secret-of-our-own"), 0);
	/* development: the stack's own defaults are placeholders, and fine */
	CHECK_EQ_INT(cfg_secret_exit_status("development", "admin-change-me"), 0);
}
