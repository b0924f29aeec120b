/*
 * Copies between kernel memory and raw user-mode buffers under structured exception handling.
 *
 * A Filter Manager message callback gets unlocked user pointers: another thread of the client
 * can unmap them at any moment, so they may only be touched inside __try/__except (WINDOWS.md).
 * Rust has no SEH, hence this file. Built by cl.exe (WDK lane) or by clang with
 * -fms-extensions -fasync-exceptions (Linux lane); without -fasync-exceptions clang emits no
 * handler for a loop that makes no calls.
 *
 * No headers: the three kernel routines used are declared here; the Rust side imports them from
 * ntoskrnl.exe.
 */

typedef unsigned long long SIZE_T;
typedef long NTSTATUS;

void __stdcall ProbeForRead(const volatile void *Address, SIZE_T Length, unsigned long Alignment);
void __stdcall ProbeForWrite(volatile void *Address, SIZE_T Length, unsigned long Alignment);
unsigned long _exception_code(void);

/* EXCEPTION_EXECUTE_HANDLER: run the __except block for any exception raised inside. */
#define HANDLE_EVERYTHING 1

/* Copies length bytes from user memory; returns STATUS_SUCCESS or the exception code. */
NTSTATUS pushlock_copy_from_user(unsigned char *destination, const volatile unsigned char *user_source, SIZE_T length)
{
    __try {
        ProbeForRead(user_source, length, 1);
        for (SIZE_T i = 0; i < length; i++) {
            destination[i] = user_source[i];
        }
    } __except (HANDLE_EVERYTHING) {
        return (NTSTATUS)_exception_code();
    }
    return 0;
}

/* Copies length bytes to user memory; returns STATUS_SUCCESS or the exception code. */
NTSTATUS pushlock_copy_to_user(volatile unsigned char *user_destination, const unsigned char *source, SIZE_T length)
{
    __try {
        ProbeForWrite(user_destination, length, 1);
        for (SIZE_T i = 0; i < length; i++) {
            user_destination[i] = source[i];
        }
    } __except (HANDLE_EVERYTHING) {
        return (NTSTATUS)_exception_code();
    }
    return 0;
}
