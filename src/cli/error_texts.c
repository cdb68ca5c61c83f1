// SPDX-License-Identifier: MIT
/*
 * What each error number means, for `nitrovm explain --error-code Exx`: nitro-cli's numbers E00-E60 (its
 * NitroCliErrorEnum, in order) and nitrovm's own E70.  Each text says what the error means, what usually causes
 * it and what to do, in the context of both tools: scripts and people arrive here with numbers from either.
 * Written for nitrovm; nitro-cli's own explanations are not reused.
 */
#include "cli.h"

#include <stddef.h>

const struct cli_error_text cli_error_texts[] = {
	{ 0, "Unspecified",
	  "Unspecified error: a failure that fits none of the other numbers. nitrovm uses it for running out of "
	  "memory and a few internal failures, and exits with status 1 for it, since 0 means success. The sentence "
	  "printed with it says what failed; if running the command again does not help, report that sentence." },
	{ 1, "MissingArgument",
	  "Missing argument: the command needs an option that was not given, such as --eif-path for run-enclave or "
	  "--output-file for build-enclave. Usually an option name was mistyped or a line of a script was lost. Run "
	  "the command with --help to see what it needs, and add the option the message names." },
	{ 2, "ConflictingArgument",
	  "Conflicting arguments: two options that exclude each other were given together, for example --cpu-count "
	  "with --cpu-ids, or --config with the options it replaces. Keep one of them; --help tells which options "
	  "go together." },
	{ 3, "InvalidArgument",
	  "Invalid argument: an option's value has the wrong form or is out of range: a memory size that is not a "
	  "number, an enclave CID the host reserves (0 to 3, or 4294967295), a port that is not a number, an unknown "
	  "option. The message quotes the value; correct it (--help shows each option's form). The QEMU-style front "
	  "end also uses it for an unknown -M or -accel option and for a bad host bridge option." },
	{ 4, "SocketPairCreationFailure",
	  "Socket pair creation failure: the command could not create the connected pair of sockets it talks "
	  "through with the enclave process it starts. The operating system refused, usually because of the limit "
	  "on open files (ulimit -n) or a shortage of memory. Close what holds descriptors or raise the limit, then "
	  "try again." },
	{ 5, "ProcessSpawnFailure",
	  "Process spawn failure: the separate process that owns a detached enclave could not be started (fork "
	  "failed). The usual causes are a limit on processes (ulimit -u, or a container's pids limit) or a "
	  "shortage of memory. Free resources or raise the limit and run the command again." },
	{ 6, "DaemonizeProcessFailure",
	  "Detach failure: the enclave process started but could not leave the terminal (a new session, its "
	  "standard streams closed). It is rare and comes from the operating system; the message says which step "
	  "failed. Try again, and look at the enclave process's log if it persists." },
	{ 7, "ReadFromDiskFailure",
	  "Sockets directory unreadable: the directory where enclave processes keep their sockets "
	  "(/run/nitro_enclaves, or $NITRO_CLI_SOCKETS_PATH) could not be listed, so running enclaves cannot be "
	  "found. Check that it exists and that you may read it; on EC2 the Nitro Enclaves setup (nitro-cli-config, "
	  "the allocator service) creates it." },
	{ 8, "UnusableConnectionError",
	  "Unusable connection: a connection to an enclave process was used after it closed, or an enclave was "
	  "addressed that no longer exists. Most often the enclave ended between being listed and being asked. List "
	  "the enclaves again (describe-enclaves) and repeat the command with a current id." },
	{ 9, "SocketCloseError",
	  "Socket close error: closing a connection to an enclave process failed. The command's result is usually "
	  "not affected; the failure points to a problem of the operating system with that socket. Try again, and "
	  "check the system log if it recurs." },
	{ 10, "SocketConnectTimeoutError",
	  "Connection timeout: a timeout could not be set on a connection, or the connection did not complete in "
	  "time, typically while attaching to an enclave's console. Check that the enclave still runs and was "
	  "started in debug mode, then attach again." },
	{ 11, "SocketError",
	  "Socket error: another operation on a socket failed (bind, connect, send, receive) while talking to an "
	  "enclave process, to the enclave, or for a host bridge. The message names the operation and the system's "
	  "reason; an address already in use and a process that has ended are the usual ones. Remove a stale socket "
	  "file or choose another address, then try again. An --enclave-id that belongs to no running enclave ends "
	  "here too, as with nitro-cli: check the id against describe-enclaves." },
	{ 12, "EpollError",
	  "Event loop failure: waiting for events (the console, vsock connections, signals) failed. nitrovm then "
	  "ends the enclave it runs and says why; the cause is in the operating system, for instance a limit on "
	  "file descriptors. Raise the limit the message points to and start the enclave again." },
	{ 13, "InotifyError",
	  "Directory watch failure: watching a directory for changes failed. nitro-cli watches its sockets "
	  "directory; nitrovm watches the directory of a --vsock-uds socket for its per-port sockets. The usual cause "
	  "is the per-user inotify limits (fs.inotify.max_user_watches, fs.inotify.max_user_instances). Raise them or "
	  "stop other watchers, then try again." },
	{ 14, "InvalidCommand",
	  "Unknown command: the command name is not one the tool knows, or an enclave process received a request it "
	  "does not understand. Check the spelling against nitrovm --help; for requests over an enclave's socket, "
	  "the client and the enclave process may come from versions that do not match." },
	{ 15, "LockAcquireFailure",
	  "Lock failure: a lock guarding shared state (an enclave's record, a state file) could not be taken, "
	  "usually because a thread holding it failed. It is an internal problem and the enclave may be in an "
	  "unknown state: terminate it, start it again, and report the message." },
	{ 16, "ThreadJoinFailure",
	  "Thread failure: a worker thread could not be waited for after it finished. It is an internal problem and "
	  "the command's result may be incomplete; run it again, and report the message if it repeats." },
	{ 17, "SerdeError",
	  "Serialization error: a value could not be written as JSON or CBOR, or read back: a request or reply "
	  "between a command and an enclave process, or output to print. nitrovm reports it where nitro-cli fails the "
	  "same way: describe-eif on an image whose custom metadata is JSON but not an object, whose keys cannot be "
	  "listed inside \"Metadata\". Rebuild such an image with --metadata naming a file that holds a JSON "
	  "object." },
	{ 18, "FilePermissionsError",
	  "Log file permissions error: nitro-cli could not change the mode of its log file "
	  "(/var/log/nitro_enclaves/nitro_enclaves.log), which it makes writable for every enclave user; only the "
	  "file's owner may do that. Run the first nitro-cli command as that owner or root, or set the mode by "
	  "hand. nitrovm keeps no shared log file and does not report this number." },
	{ 19, "FileOperationFailure",
	  "File operation failure: a file could not be opened, read, written or created: the EIF given to "
	  "run-enclave, a kernel, ramdisk, certificate or key given to build-enclave or sign-eif, the output file, "
	  "or a device such as /dev/nitro_enclaves or /dev/kvm. The message names the file and the system's reason. "
	  "Check the path and its permissions. A missing /dev/nitro_enclaves means the Nitro Enclaves driver is not "
	  "loaded or the instance was launched without enclave support; a missing /dev/kvm means this host has no "
	  "KVM to emulate enclaves with (nitrovm selftest tells more)." },
	{ 20, "InvalidCpuConfiguration",
	  "Invalid CPU choice: the CPUs asked for cannot make an enclave: an id given twice, or on EC2 CPUs that do "
	  "not form whole cores (an enclave takes both hyper-threads of each core it uses). Name each CPU once and "
	  "give siblings together, or use --cpu-count and let the tool pick." },
	{ 21, "NoSuchCpuAvailableInPool",
	  "CPU not in the pool: a CPU named with --cpu-ids is not among those set aside for enclaves (on EC2, "
	  "/sys/module/nitro_enclaves/parameters/ne_cpus). Pick CPUs from the pool, or add them to it with the "
	  "allocator (/etc/nitro_enclaves/allocator.yaml, then restart nitro-enclaves-allocator)." },
	{ 22, "InsufficientCpus",
	  "Not enough CPUs: the enclave wants more CPUs than the pool has free, counting those other enclaves hold. "
	  "Ask for fewer, terminate an enclave you no longer need, or enlarge the pool with the allocator. CPU 0 and "
	  "its sibling always stay with the parent instance." },
	{ 23, "MalformedCpuId",
	  "Malformed CPU id: a CPU list could not be read: a --cpu-ids value that is not a number or a list of "
	  "numbers, or in nitro-cli a line of the system's CPU list it could not parse. Give plain numbers separated "
	  "by spaces, for example --cpu-ids 1 3." },
	{ 24, "CpuError",
	  "CPU range error: a range in a CPU list is malformed (like 0-3-7, or 5-2), so the enclave CPU pool cannot "
	  "be read. Correct the list in the allocator's configuration or the ne_cpus parameter to single ids and "
	  "low-high ranges." },
	{ 25, "NoSuchHugepageFlag",
	  "Unknown huge page size: the memory allocator met a huge page size it does not know or the system does not "
	  "offer. Compare the sizes listed under /sys/kernel/mm/hugepages with the allocator's configuration, and "
	  "report the message if they look right." },
	{ 26, "InsufficientMemoryRequested",
	  "Too little memory asked for: an enclave's memory must hold its image several times over (at least four "
	  "times the EIF's size) and at least 64 MiB; nitrovm also wants a multiple of 2 MiB. The message gives the "
	  "minimum: pass at least that with --memory (or -m), or make the image smaller." },
	{ 27, "InsufficientMemoryAvailable",
	  "Not enough memory available: the host could not give the enclave the memory asked for. On EC2 too few huge "
	  "pages are reserved for enclaves or other enclaves hold them; emulated, the host is short of memory, or of "
	  "huge pages with hugepages=on. Ask for less, terminate other enclaves, or reserve more (memory_mib in "
	  "allocator.yaml and restart the allocator, or vm.nr_hugepages)." },
	{ 28, "InvalidEnclaveFd",
	  "Enclave creation refused: the driver would not create an enclave (its NE_CREATE_VM request failed), often "
	  "because the instance already runs as many enclaves as it may, or the driver is in a bad state. Terminate "
	  "enclaves you no longer need; if none runs, reload the nitro_enclaves module or reboot the instance." },
	{ 29, "IoctlFailure",
	  "Driver request failure: a request to /dev/nitro_enclaves (or, emulated, to KVM) failed. nitrovm names the "
	  "request and turns the driver's NE_ERR_* code into a sentence that says what to change: memory alignment, "
	  "a CPU choice, a region already in use. Follow it; when it gives no cause, the kernel log (dmesg) may." },
	{ 30, "IoctlImageLoadInfoFailure",
	  "Image placement failure: the driver would not say where in the enclave's memory the image goes (its "
	  "NE_GET_IMAGE_LOAD_INFO request failed), usually because the enclave was not created in the expected "
	  "state. Launch again; the message carries the driver's reason." },
	{ 31, "IoctlSetMemoryRegionFailure",
	  "Memory region refused: the driver would not take a block of the enclave's memory (NE_SET_USER_MEMORY_"
	  "REGION): memory not backed by huge pages, not aligned to 2 MiB, on another NUMA node than the enclave's "
	  "CPUs, or already given to an enclave. Check the huge page reservation and its NUMA node; the message "
	  "gives the driver's reason." },
	{ 32, "IoctlAddVcpuFailure",
	  "vCPU refused: the driver would not give a CPU to the enclave (NE_ADD_VCPU): it is not in the pool, another "
	  "enclave holds it, or its core would be split. Choose free CPUs from the pool, both hyper-threads of each "
	  "core." },
	{ 33, "IoctlEnclaveStartFailure",
	  "Start failure: the enclave could not be started. On EC2 the driver's start request failed; emulated, the "
	  "virtual machine or one of its devices could not be set up, for example because the state directory where "
	  "nitrovm keeps the NSM's certificate authority cannot be created. The message says which. Remove that "
	  "cause (for the state directory, point NITROVM_STATE_DIR or XDG_STATE_HOME at a writable place) and launch "
	  "again." },
	{ 34, "MemoryOverflow",
	  "Memory overflow: the image does not fit where it must be loaded: from the load offset on, the image runs "
	  "past the end of the enclave's memory. Give the enclave more memory or make the image smaller." },
	{ 35, "EifParsingError",
	  "Image error: the file cannot serve as an enclave image: not an EIF, truncated, a section out of place or "
	  "of an unknown type, a metadata section nitro-cli's reader refuses, or, for describe-eif as in nitro-cli, "
	  "a file that cannot be opened or read at all. The message names the problem and where it is. Check that "
	  "the path is the file you meant, and rebuild the image; nitrovm validate-eif reports an image's first "
	  "problem. nitro-cli also uses this number when the image cannot be copied into the enclave's memory, "
	  "which can mean the huge pages ran out." },
	{ 36, "EnclaveBootFailure",
	  "Boot failure: the enclave did not report that it started (no heartbeat on vsock port 9000 in time, or a "
	  "wrong one), or it stopped abnormally. Usual causes: an image whose kernel or init does not send the "
	  "heartbeat (not built for Nitro Enclaves), too little memory for the ramdisks to unpack, a kernel panic. "
	  "Start it with --debug-mode --attach-console to watch its console, and give it more memory if it runs "
	  "out." },
	{ 37, "EnclaveEventWaitError",
	  "Enclave event error: waiting for events from a running enclave (its end, its console) failed. The enclave "
	  "may still run: check with describe-enclaves, and terminate it if it no longer answers." },
	{ 38, "EnclaveProcessCommandNotExecuted",
	  "Command not carried out: an enclave process was asked to describe or terminate its enclave and did not, "
	  "either because the enclave is shutting down or because it belongs to another user, whose enclave process "
	  "refuses. List the enclaves again and repeat the command for those that remain, as the user who started "
	  "them (or root)." },
	{ 39, "EnclaveProcessConnectionFailure",
	  "Enclave process unreachable: the process that owns an enclave did not answer on its socket: it has ended, "
	  "its socket is stale, or you may not connect to it (another user's enclave). Run describe-enclaves to see "
	  "what still runs, which also clears stale sockets, and use the same user (or root) that started the "
	  "enclave." },
	{ 40, "SocketPathNotFound",
	  "Unknown enclave: no socket belongs to the enclave id given, so the enclave is unknown or has ended. Check "
	  "the id against describe-enclaves (ids look like i-0123456789abcdef0-enc1a2b3c4d5e6f7a8) or name the "
	  "enclave with --enclave-name." },
	{ 41, "EnclaveProcessSendReplyFailure",
	  "Reply lost: an enclave process could not send its answer to the command that asked, which may have been "
	  "interrupted. The action may still have happened; check with describe-enclaves." },
	{ 42, "EnclaveMmapError",
	  "Memory mapping failure: the enclave's memory could not be mapped: no free huge pages of the size needed, "
	  "or a limit on locked or total memory (ulimit -l, a container's memory limit). Reserve more huge pages or "
	  "ask for less memory, then launch again." },
	{ 43, "EnclaveMunmapError",
	  "Memory release failure: the enclave's memory could not be unmapped after it ended. It stays reserved until "
	  "the process exits; if huge pages seem to be missing later, look for leftover enclave processes." },
	{ 44, "EnclaveConsoleConnectionFailure",
	  "Console unreachable: the enclave's console could not be reached. Most often the enclave was not started "
	  "in debug mode, and only debug-mode enclaves have a console; otherwise it has ended. Start it with "
	  "--debug-mode (or --attach-console) to have one." },
	{ 45, "EnclaveConsoleReadError",
	  "Console read error: reading the enclave's console failed while attached, usually because the enclave ended "
	  "or dropped the connection. Check whether it still runs, and attach again if it does." },
	{ 46, "EnclaveConsoleWriteOutputError",
	  "Console output error: the console's text could not be written out, because standard output closed (a "
	  "pipe whose reader went away, as in console | head) or a disk is full. Keep the reader open, or send the "
	  "output to a file with room." },
	{ 47, "IntegerParsingError",
	  "Number not readable: a number could not be parsed; nitro-cli reports it for an enclave CID it cannot read "
	  "while attaching to a console. Check the id or CID against what describe-enclaves prints." },
	{ 48, "EifBuildingError",
	  "Image build failure: build-enclave could not make the EIF: an input that is not what it should be (a "
	  "kernel that is neither an x86_64 bzImage nor an arm64 Image, a directory that cannot be packed), custom "
	  "metadata that is not valid JSON or is over 4096 bytes, or a SOURCE_DATE_EPOCH that is not a number; for "
	  "a container image, a damaged layer, a path that leaves the image's root, a User not in its /etc/passwd, no "
	  "Cmd or Entrypoint, or an architecture that is not the kernel's. The message names the input; correct it "
	  "and build again. No partial output file is left behind." },
	{ 49, "DockerImageBuildError",
	  "Image build failure: the Dockerfile in --docker-dir could not be built. nitro-cli uses docker build; "
	  "nitrovm uses buildah, else podman (daemonless), and says so when neither is installed (apt-get install "
	  "buildah). The builder's own output, on stderr unless --quiet, says why a build failed." },
	{ 50, "DockerImagePullError",
	  "Image pull failure: the --docker-uri image could not be fetched or read: the name or tag does not exist "
	  "(HTTP 404), the registry needs credentials (401: docker login or podman login write them where both "
	  "tools read them), the registry failed (5xx) or stalled (--stall-timeout), or the image is not what its "
	  "digests say, has a media type or manifest version nitrovm does not read, or an encrypted layer. For "
	  "oci:, oci-archive: and docker-archive: the message names what is missing or wrong inside the image." },
	{ 51, "ArtifactsPathNotSet",
	  "Artifacts directory unknown: nitro-cli needs a directory for intermediate build files and found none "
	  "(NITRO_CLI_ARTIFACTS unset and no usable home directory). Set NITRO_CLI_ARTIFACTS to a writable directory. "
	  "nitrovm needs no such directory." },
	{ 52, "BlobsPathNotSet",
	  "Blobs directory unknown: no kernel to build the image with: nitro-cli's blobs (bzImage or Image, cmdline, "
	  "nsm.ko) are not in NITRO_CLI_BLOBS nor in /usr/share/nitro_enclaves/blobs. Install nitro-cli's blobs or "
	  "point NITRO_CLI_BLOBS at them, or give nitrovm build-enclave a kernel with --kernel and --cmdline." },
	{ 53, "ClockSkewError",
	  "Clock error: the time between two readings could not be measured because the clock seemed to go "
	  "backwards, while a console was read with --disconnect-timeout. Attach again; if the system clock jumps "
	  "often, check its time synchronisation." },
	{ 54, "SignalMaskingError",
	  "Signal blocking failure: signals could not be blocked before the enclave process was started, which "
	  "protects its start from interruption. It comes from the operating system and is rare; run the command "
	  "again." },
	{ 55, "SignalUnmaskingError",
	  "Signal unblocking failure: the signals blocked for the start of the enclave process could not be unblocked "
	  "again. Run the command again; an enclave that did start can be terminated as usual." },
	{ 56, "LoggerError",
	  "Logging failure: the log could not be set up because nitro-cli's log directory or file "
	  "(/var/log/nitro_enclaves, or $NITRO_CLI_LOGS_PATH) could not be created or opened. Make it writable for "
	  "your user or point NITRO_CLI_LOGS_PATH at another directory." },
	{ 57, "HasherError",
	  "Measurement failure: a PCR could not be computed: hashing an image's sections, or a signing certificate "
	  "for PCR8, failed. For a certificate the cause is usually a file that is not a PEM certificate; for an "
	  "image, validate-eif tells what is wrong with it. (nitro-cli has no explanation of its own for this "
	  "number.)" },
	{ 58, "EnclaveNamingError",
	  "Naming failure: an enclave name could not be used or resolved: no running enclave has the name given to "
	  "--enclave-name (for console, no ended one either), the name is not valid, or no name could be derived "
	  "from the image. Check the names describe-enclaves lists, or use --enclave-id. (nitro-cli has no "
	  "explanation of its own for this number.)" },
	{ 59, "EIFSignatureCheckerError",
	  "Signature check failure: the image's signature could not be verified: the signature section is "
	  "malformed, its certificate cannot be read or is outside its validity period, the signature does not "
	  "match, or it signs a PCR0 other than the image's. A launch refuses such an image. Sign it again "
	  "(nitrovm sign-eif) or rebuild it; validate-eif says which check failed. (nitro-cli has no explanation of "
	  "its own for this number.)" },
	{ 60, "EIFSigningError",
	  "Signing failure: the image could not be signed: the private key or certificate cannot be read, they do "
	  "not belong together, the key is not an elliptic-curve key on P-256, P-384 or P-521, or with nitro-cli a "
	  "KMS key could not be used, often because AWS credentials expired. Check both paths and that the "
	  "certificate was issued for that key." },
	{ 70, "AttestationNotAccepted",
	  "Attestation document not accepted (nitrovm's own number, above nitro-cli's): verify-attestation found the "
	  "document invalid: its COSE envelope or payload is malformed, its certificate chain does not lead to the "
	  "pinned root, a certificate was not valid at the time checked, the signature does not verify, or a PCR, "
	  "the nonce, the user data or the public key differs from what was expected. The message names the first "
	  "check that failed. Make sure the pinned root is the right one (nitrovm ca export, or AWS's root for "
	  "documents from Nitro hardware) and the expected values are current; for AWS documents pass an --at time "
	  "inside their certificate's few hours." },
};

const size_t cli_error_texts_count = sizeof(cli_error_texts) / sizeof(cli_error_texts[0]);
